// Caps retries and fallbacks so they cannot amplify an outage, the way Envoy's retry budget does:
// retries in flight may be at most max(`ratio` × requests in flight, `minConcurrent`). When every
// variant is failing, the extra load stays a fraction of real traffic instead of multiplying it,
// and a quiet router can still retry a few requests at a time.

export interface RetryBudgetOptions {
  /** Retries in flight allowed per request in flight (Envoy's budget_percent / 100). */
  ratio?: number;
  /** Retries in flight always allowed, however few requests are active (Envoy's min_retry_concurrency). */
  minConcurrent?: number;
}

export interface RetryBudgetStats {
  activeRequests: number;
  activeRetries: number;
  /** Retries that may be in flight right now (used or not). */
  allowance: number;
  /** Retries granted since the start. */
  retries: number;
  /** Retries refused since the start. */
  refused: number;
  /** The most retries ever in flight at once. */
  peakActiveRetries: number;
}

/** Hands back a slot exactly once, however often it is called. */
export type Release = () => void;

export class RetryBudget {
  private readonly ratio: number;
  private readonly minConcurrent: number;
  private activeRequests = 0;
  private activeRetries = 0;
  private retries = 0;
  private refused = 0;
  private peakActiveRetries = 0;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.2;
    this.minConcurrent = options.minConcurrent ?? 3;
    if (!(this.ratio >= 0 && Number.isFinite(this.ratio))) throw new RangeError(`ratio must be a finite number >= 0, got ${this.ratio}`);
    if (!Number.isInteger(this.minConcurrent) || this.minConcurrent < 0) {
      throw new RangeError(`minConcurrent must be an integer >= 0, got ${this.minConcurrent}`);
    }
  }

  /** Call when a client request starts; call the returned function when it ends. */
  startRequest(): Release {
    this.activeRequests += 1;
    return once(() => {
      this.activeRequests -= 1;
    });
  }

  /** Takes a retry slot if the budget has one; release it when the retry's attempt ends. */
  tryRetry(): Release | undefined {
    if (this.activeRetries + 1 > this.allowance()) {
      this.refused += 1;
      return undefined;
    }
    this.activeRetries += 1;
    this.retries += 1;
    this.peakActiveRetries = Math.max(this.peakActiveRetries, this.activeRetries);
    return once(() => {
      this.activeRetries -= 1;
    });
  }

  stats(): RetryBudgetStats {
    return {
      activeRequests: this.activeRequests,
      activeRetries: this.activeRetries,
      allowance: this.allowance(),
      retries: this.retries,
      refused: this.refused,
      peakActiveRetries: this.peakActiveRetries,
    };
  }

  private allowance(): number {
    return Math.max(Math.floor(this.ratio * this.activeRequests), this.minConcurrent);
  }
}

function once(action: () => void): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
