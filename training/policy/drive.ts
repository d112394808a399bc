// Open-loop load through the real router: requests leave at the given arrival times whether or not
// earlier ones have answered (a closed loop would slow down with the system and hide queueing).
import { Pool } from 'undici';
import { ROLES, type Role } from '../../crds/types.js';
import { VARIANT_HEADER } from '../../router-sidecar/hints.js';
import type { TraceRows } from './trace.js';

export interface DrivenRequest {
  row: number;
  status: number;
  role?: Role;
  prediction?: number;
  correct: boolean;
  latencyMs: number;
  /** How late the request left against its schedule (the generator falling behind). */
  lagMs: number;
  /** Answered by the router's own copy of the variant (policy.distilledInRouter), not forwarded. */
  inRouter?: boolean;
}

export interface DriveOptions {
  routerUrl: string;
  trace: TraceRows;
  rows: readonly number[];
  arrivals: Float64Array;
  /** Per request, a variant to pin (x-cascade-variant), for the oracle. */
  pins?: readonly Role[];
  connections?: number;
}

export async function driveOpenLoop(options: DriveOptions): Promise<DrivenRequest[]> {
  const { trace, rows, arrivals } = options;
  const pool = new Pool(options.routerUrl, { connections: options.connections ?? 128, keepAliveTimeout: 10_000 });
  const bodies = rows.map((row) => JSON.stringify({ features: [Array.from(trace.features.subarray(row * trace.dim, (row + 1) * trace.dim))] }));
  const results: DrivenRequest[] = new Array(rows.length);
  const send = async (i: number, scheduled: number): Promise<void> => {
    const row = rows[i]!;
    const started = performance.now();
    const result: DrivenRequest = { row, status: 0, correct: false, latencyMs: 0, lagMs: started - scheduled };
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (options.pins) headers[VARIANT_HEADER] = options.pins[i]!;
      const response = await pool.request({ path: '/predict', method: 'POST', headers, body: bodies[i]! });
      const body = (await response.body.json()) as { prediction?: number; variant?: string; in_router?: boolean };
      result.status = response.statusCode;
      if (response.statusCode === 200) {
        result.prediction = body.prediction!;
        result.role = ROLES.find((role) => body.variant === role || body.variant?.endsWith(`-${role}`));
        result.correct = body.prediction === trace.labels[row];
        if (body.in_router) result.inRouter = true;
      }
    } catch {
      result.status = 0;
    }
    // Latency from the scheduled time: a late start is queueing the client would have seen.
    result.latencyMs = performance.now() - scheduled;
    results[i] = result;
  };
  const inFlight: Promise<void>[] = [];
  const origin = performance.now() + 20;
  for (let i = 0; i < rows.length; i++) {
    const scheduled = origin + arrivals[i]!;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(send(i, scheduled));
  }
  await Promise.all(inFlight);
  await pool.close();
  return results;
}
