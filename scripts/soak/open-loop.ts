// Open-loop traffic: requests are sent at Poisson arrival times whatever the server does, and
// each one's latency counts from when it was due, so a stalled server cannot slow the generator
// down and hide its own stall (no coordinated omission).
import { Agent, request } from 'undici';
import type { Random } from '../../common/random.js';
import { classify, type SoakRecord } from './summary.js';

export interface OpenLoopOptions {
  url: string;
  rps: number;
  durationMs: number;
  random: Random;
  /** The JSON body of request `index`. */
  body: (index: number) => string;
  /** Longest a request may take before it counts as lost. */
  timeoutMs?: number;
}

export interface OpenLoop {
  records: SoakRecord[];
  /** Resolves once the last request is due and every request has been answered or given up. */
  done: Promise<void>;
  startedAt: number;
}

export function runOpenLoop(options: OpenLoopOptions): OpenLoop {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const records: SoakRecord[] = [];
  const startedAt = performance.now();
  const pending = new Set<Promise<void>>();
  let nextDueMs = 0;
  let index = 0;

  const send = (dueMs: number, i: number): Promise<void> => {
    const body = options.body(i);
    return request(options.url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body })
      .then(async (response) => {
        const text = await response.body.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        return { status: response.statusCode, ...classify(response.statusCode, parsed) };
      })
      .catch((error: Error) => ({ status: 0, outcome: 'lost' as const, error: `no answer: ${error.message}` }))
      .then((result) => {
        records.push({ dueMs, latencyMs: performance.now() - startedAt - dueMs, ...result });
      });
  };

  const done = (async () => {
    while (nextDueMs < options.durationMs) {
      const now = performance.now() - startedAt;
      while (nextDueMs <= now && nextDueMs < options.durationMs) {
        const promise = send(nextDueMs, index++);
        pending.add(promise);
        void promise.finally(() => pending.delete(promise));
        nextDueMs += -Math.log(1 - options.random.next()) * (1000 / options.rps);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(20, nextDueMs - now))));
    }
    await Promise.all(pending);
    await dispatcher.close();
  })();
  return { records, done, startedAt };
}
