// Sends requests at their scheduled times whatever the answers do, and measures each from its
// scheduled time (so queueing in the client or the server counts, with no coordinated omission).
import { Agent, request } from 'undici';

export interface OpenLoopRequest {
  features: Float32Array;
}

export interface OpenLoopResult {
  scheduledMs: number;
  status: number;
  /** From the scheduled send time to the last byte of the answer. */
  latencyMs: number;
  cacheHit?: boolean;
  variant?: string;
  prediction?: number;
  error?: string;
}

export interface OpenLoopOptions {
  url: string;
  /** Ascending send times in ms from the start. */
  times: readonly number[];
  requestAt: (index: number) => OpenLoopRequest;
  timeoutMs?: number;
  connections?: number;
  onProgress?: (sent: number, total: number) => void;
}

export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult[]> {
  const dispatcher = new Agent({ connections: options.connections ?? 256, keepAliveTimeout: 10_000 });
  const timeoutMs = options.timeoutMs ?? 5_000;
  const results: OpenLoopResult[] = new Array(options.times.length);
  const pending: Promise<void>[] = [];
  const bodies = options.times.map((_, i) => JSON.stringify({ features: [Array.from(options.requestAt(i).features)] }));
  const start = performance.now();
  const send = async (index: number) => {
    const scheduledMs = options.times[index]!;
    const result: OpenLoopResult = { scheduledMs, status: 0, latencyMs: 0 };
    try {
      const response = await request(`${options.url}/predict`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json' },
        body: bodies[index]!,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const body = (await response.body.json()) as { prediction?: number; variant?: string; cache_hit?: boolean; error?: string };
      result.status = response.statusCode;
      if (response.statusCode === 200) {
        result.cacheHit = body.cache_hit === true;
        result.variant = body.variant!;
        result.prediction = body.prediction!;
      } else result.error = body.error ?? `HTTP ${response.statusCode}`;
    } catch (error) {
      result.error = (error as Error).message;
    }
    result.latencyMs = performance.now() - start - scheduledMs;
    results[index] = result;
  };
  let next = 0;
  let lastReport = 0;
  while (next < options.times.length) {
    const now = performance.now() - start;
    while (next < options.times.length && options.times[next]! <= now) pending.push(send(next++));
    if (options.onProgress && now - lastReport >= 2000) {
      lastReport = now;
      options.onProgress(next, options.times.length);
    }
    if (next < options.times.length) {
      const wait = options.times[next]! - (performance.now() - start);
      await new Promise((resolve) => (wait > 2 ? setTimeout(resolve, wait - 1) : setImmediate(resolve)));
    }
  }
  await Promise.all(pending);
  await dispatcher.close();
  return results;
}
