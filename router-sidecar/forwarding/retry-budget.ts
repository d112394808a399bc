// Caps retries and fallbacks so they cannot amplify an outage: over a sliding window, retries may
// be at most `ratio` × first attempts plus `minRetriesPerSecond` × the window's seconds (so a
// quiet router can still retry). When every variant is failing, extra load stays a fraction of
// real traffic instead of multiplying it. The window is a ring of buckets on an injected clock.
import { monotonicClock, type Clock } from '../clock.js';

export interface RetryBudgetOptions {
  ratio?: number;
  minRetriesPerSecond?: number;
  windowMs?: number;
  buckets?: number;
  clock?: Clock;
}

export interface RetryBudgetStats {
  requests: number;
  retries: number;
  /** Retries the window allows in total (used or not). */
  allowance: number;
  refused: number;
}

export class RetryBudget {
  private readonly ratio: number;
  private readonly minRetries: number;
  private readonly bucketMs: number;
  private readonly clock: Clock;
  private readonly epochs: Float64Array;
  private readonly requests: Float64Array;
  private readonly retries: Float64Array;
  private refused = 0;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.2;
    const windowMs = options.windowMs ?? 10_000;
    const buckets = options.buckets ?? 10;
    if (!(this.ratio >= 0)) throw new RangeError(`ratio must be >= 0, got ${this.ratio}`);
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
    if (!(windowMs >= buckets)) throw new RangeError(`windowMs must be at least one ms per bucket, got ${windowMs}`);
    this.minRetries = (options.minRetriesPerSecond ?? 10) * (windowMs / 1000);
    this.bucketMs = windowMs / buckets;
    this.clock = options.clock ?? monotonicClock;
    this.epochs = new Float64Array(buckets).fill(-Infinity);
    this.requests = new Float64Array(buckets);
    this.retries = new Float64Array(buckets);
  }

  /** Call once per client request (its first attempt). */
  recordRequest(): void {
    this.requests[this.bucket()]!++;
  }

  /** Takes one retry from the budget if there is one left. */
  tryRetry(): boolean {
    const { retries, allowance } = this.stats();
    if (retries + 1 > allowance) {
      this.refused++;
      return false;
    }
    this.retries[this.bucket()]!++;
    return true;
  }

  stats(): RetryBudgetStats {
    const epoch = Math.floor(this.clock() / this.bucketMs);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.epochs.length; i++) {
      if (this.epochs[i]! > epoch - this.epochs.length) {
        requests += this.requests[i]!;
        retries += this.retries[i]!;
      }
    }
    return { requests, retries, allowance: this.minRetries + this.ratio * requests, refused: this.refused };
  }

  private bucket(): number {
    const epoch = Math.floor(this.clock() / this.bucketMs);
    const n = this.epochs.length;
    const i = ((epoch % n) + n) % n;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.requests[i] = 0;
      this.retries[i] = 0;
    }
    return i;
  }
}
