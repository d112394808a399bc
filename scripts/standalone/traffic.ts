// Drives a router with sessions-32 requests in stream order from a few concurrent clients and
// records what came back for each request.
import { Agent, request } from 'undici';
import type { SessionRequest } from '../../training/data/sessions32.js';

export interface RequestRecord {
  index: number;
  session: number;
  label: number;
  driftShift: number;
  status: number;
  prediction?: number;
  variant?: string;
  cacheHit?: boolean;
  /** Measured by the client, end to end. */
  latencyMs: number;
  /** Wall-clock epoch ms when the request was sent. */
  sentAt: number;
  error?: string;
}

export async function drive(routerUrl: string, requests: Iterator<SessionRequest>, total: number, concurrency: number, onProgress?: (done: number) => void): Promise<RequestRecord[]> {
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const records: RequestRecord[] = new Array(total);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < total) {
      const index = next++;
      const r = requests.next().value as SessionRequest;
      const started = performance.now();
      const record: RequestRecord = { index, session: r.session, label: r.label, driftShift: r.driftShift, status: 0, latencyMs: 0, sentAt: Date.now() };
      try {
        const response = await request(`${routerUrl}/predict`, {
          method: 'POST',
          dispatcher,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ features: [Array.from(r.features)] }),
        });
        const body = (await response.body.json()) as { prediction?: number; variant?: string; cache_hit?: boolean; error?: string };
        record.status = response.statusCode;
        if (response.statusCode === 200) {
          record.prediction = body.prediction!;
          record.variant = body.variant!;
          record.cacheHit = body.cache_hit!;
        } else record.error = body.error ?? `HTTP ${response.statusCode}`;
      } catch (error) {
        record.error = (error as Error).message;
      }
      record.latencyMs = performance.now() - started;
      records[index] = record;
      done += 1;
      if (onProgress && done % 500 === 0) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await dispatcher.close();
  return records;
}
