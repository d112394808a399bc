export type HandlerResult = 'done' | 'requeue' | { requeueAfterMs: number };
export type Handler = (key: string) => Promise<HandlerResult>;
export type CancelTimer = () => void;

export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  qps?: number;
  burst?: number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => CancelTimer;
  onError?: (key: string, err: unknown) => void;
}

type Settings = Required<Omit<WorkQueueOptions, 'onError'>>;

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function realTimer(fn: () => void, ms: number): CancelTimer {
  // setTimeout fires after 1 ms when given more than 2^31-1 ms, so longer waits are chained.
  let handle: NodeJS.Timeout;
  const arm = (left: number): void => {
    handle = setTimeout(left > MAX_TIMEOUT_MS ? () => arm(left - MAX_TIMEOUT_MS) : fn, Math.min(left, MAX_TIMEOUT_MS));
    handle.unref();
  };
  arm(ms);
  return () => clearTimeout(handle);
}

export const workQueueDefaults: Settings = {
  baseDelayMs: 5,
  maxDelayMs: 1_000_000,
  qps: 10,
  burst: 100,
  now: () => performance.now(),
  setTimer: realTimer,
};

export class WorkQueue {
  private readonly settings: Settings;
  private readonly onError: ((key: string, err: unknown) => void) | undefined;
  private readonly queue: string[] = [];
  // Keys that are queued or must be re-queued when their processing finishes.
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { readyAt: number; cancel: CancelTimer }>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private tokens: number;
  private lastRefill: number | undefined;
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    const { onError, ...rest } = options;
    this.settings = { ...workQueueDefaults, ...stripUndefined(rest) };
    this.onError = onError;
    const { qps, burst } = this.settings;
    if (!(Number.isFinite(qps) && qps > 0)) throw new RangeError(`qps must be a positive finite number, got ${qps}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be at least 1, got ${burst}`);
    this.tokens = burst;
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.waiters.shift()?.();
  }

  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) return this.add(key);
    const readyAt = this.settings.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.readyAt <= readyAt) return;
    existing?.cancel();
    const cancel = this.settings.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { readyAt, cancel });
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.when(key));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  async run(concurrency: number, handler: Handler): Promise<void> {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    await Promise.all(Array.from({ length: concurrency }, () => this.worker(handler)));
  }

  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { cancel } of this.delayed.values()) cancel();
    this.delayed.clear();
    for (const wake of this.waiters.splice(0)) wake();
  }

  async shutDownAndDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private when(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const backoff = Math.min(this.settings.baseDelayMs * 2 ** failures, this.settings.maxDelayMs);
    return Math.max(backoff, this.reserveToken());
  }

  // Like golang.org/x/time/rate Reserve(): tokens may go negative, so each caller beyond the burst waits one more slot.
  private reserveToken(): number {
    const { now, qps, burst } = this.settings;
    const t = now();
    this.tokens = Math.min(burst, this.tokens + ((t - (this.lastRefill ?? t)) * qps) / 1000);
    this.lastRefill = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / qps;
  }

  private async next(): Promise<string | undefined> {
    for (;;) {
      if (this.shuttingDown) return undefined;
      const key = this.queue.shift();
      if (key !== undefined) {
        this.processing.add(key);
        this.dirty.delete(key);
        return key;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.waiters.shift()?.();
    }
    if (this.processing.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async worker(handler: Handler): Promise<void> {
    for (let key = await this.next(); key !== undefined; key = await this.next()) {
      try {
        const result = await handler(key);
        if (result === 'done') {
          this.forget(key);
        } else if (result === 'requeue') {
          this.addRateLimited(key);
        } else {
          this.forget(key);
          this.addAfter(key, result.requeueAfterMs);
        }
      } catch (err) {
        this.addRateLimited(key);
        this.onError?.(key, err);
      } finally {
        this.done(key);
      }
    }
  }
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
