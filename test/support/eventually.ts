import { setTimeout as sleep } from 'node:timers/promises';

export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Polls until the check stops throwing (Gomega's Eventually); rethrows its last error on timeout. */
export async function eventually<T>(check: () => T | Promise<T>, { timeoutMs = 10_000, intervalMs = 200 }: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await sleep(intervalMs);
  }
}

/** Checks repeatedly that the check keeps passing for the whole period (Gomega's Consistently). */
export async function consistently(check: () => void | Promise<void>, { timeoutMs = 5_000, intervalMs = 500 }: PollOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await check();
    await sleep(intervalMs);
  }
  await check();
}
