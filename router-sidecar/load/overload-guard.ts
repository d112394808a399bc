// Admission control for the router's own CPU. When the router cannot keep up (more requests
// arrive than its core can parse, route and forward), requests queue in its sockets, every one
// waits longer than its deadline, attempts time out and fall back to other variants, and the extra
// work makes the backlog grow: the router answers almost nothing while it is busiest. The sign is
// the event loop running late: a timer due every few milliseconds fires tens of milliseconds late.
// While it does, the guard refuses a growing share of new requests at the door with a 429, which
// costs a fraction of serving one, so that more of the requests it admits are answered in time
// (bench/router-overload.ts measures how many more; it is a mitigation, not a cure: requests that
// reach the router have already waited in its sockets, which the loop's lateness shows only after
// the fact).

export interface OverloadGuardOptions {
  /** Mean event-loop delay (ms) over a window above which the guard sheds more. */
  maxDelayMs: number;
  /** How much the shed share grows per overloaded window, and shrinks per calm one. */
  step?: number;
  /** The largest share of requests shed; the rest keep showing whether the router recovers. */
  maxShedFraction?: number;
  /** Overloaded windows in a row before the share grows, so that one stall (a GC pause) sheds nothing. */
  sustainWindows?: number;
}

export class OverloadGuard {
  readonly maxDelayMs: number;
  private readonly step: number;
  private readonly maxShedFraction: number;
  private readonly sustainWindows: number;
  private overloadedInARow = 0;
  private fraction = 0;
  private credit = 0;
  private lastDelayMs = 0;

  constructor(options: OverloadGuardOptions) {
    if (!(options.maxDelayMs > 0)) throw new RangeError(`maxDelayMs must be > 0, got ${options.maxDelayMs}`);
    this.maxDelayMs = options.maxDelayMs;
    this.step = options.step ?? 0.1;
    this.maxShedFraction = options.maxShedFraction ?? 0.9;
    this.sustainWindows = options.sustainWindows ?? 2;
    if (!(Number.isInteger(this.sustainWindows) && this.sustainWindows >= 1)) throw new RangeError(`sustainWindows must be an integer >= 1, got ${this.sustainWindows}`);
    if (!(this.step > 0 && this.step <= 1)) throw new RangeError(`step must be in (0, 1], got ${this.step}`);
    if (!(this.maxShedFraction > 0 && this.maxShedFraction < 1)) throw new RangeError(`maxShedFraction must be in (0, 1), got ${this.maxShedFraction}`);
  }

  /**
   * One window's mean event-loop delay. Above the limit for `sustainWindows` windows in a row the
   * shed share grows by a step, or at once to 1 - limit / delay when that is more (a loop running
   * 4x too late sheds 75%: a backlog grows by the excess every window, so a slow ramp lets it build
   * up first); below half the limit it shrinks by a step; in between it holds, so the share does
   * not flap around the limit.
   */
  observe(meanDelayMs: number): void {
    this.lastDelayMs = meanDelayMs;
    if (meanDelayMs > this.maxDelayMs) {
      this.overloadedInARow += 1;
      if (this.overloadedInARow >= this.sustainWindows) {
        const proportional = 1 - this.maxDelayMs / meanDelayMs;
        this.fraction = Math.min(this.maxShedFraction, Math.max(this.fraction + this.step, proportional));
      }
    } else {
      this.overloadedInARow = 0;
      if (meanDelayMs < this.maxDelayMs / 2) this.fraction = Math.max(0, this.fraction - this.step);
    }
    if (this.fraction === 0) this.credit = 0;
  }

  /** Whether to serve the next request: the shed share of requests is refused, evenly spread. */
  admit(): boolean {
    if (this.fraction === 0) return true;
    this.credit += this.fraction;
    if (this.credit >= 1 - 1e-9) {
      this.credit -= 1;
      return false;
    }
    return true;
  }

  get shedFraction(): number {
    return this.fraction;
  }

  /** Why a request was refused, for its error message. */
  reason(): string {
    return `the router is overloaded (its event loop runs ${this.lastDelayMs.toFixed(0)} ms late, over the ${this.maxDelayMs} ms limit) and refuses ${Math.round(this.fraction * 100)}% of requests; retry later`;
  }
}

/**
 * Measures how late the event loop runs: a timer every `tickMs`, and once per `windowMs` the mean
 * lateness of the ticks that fired reported to `onWindow`. A lone pause (a major GC) shows as one
 * late tick among many and barely moves the mean; a saturated loop makes every tick late.
 */
export function startLoopDelaySampler(onWindow: (meanDelayMs: number) => void, tickMs = 10, windowMs = 100): () => void {
  let expected = performance.now() + tickMs;
  let windowStart = performance.now();
  let lateness = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    lateness += Math.max(0, now - expected);
    ticks += 1;
    expected = now + tickMs;
    if (now - windowStart >= windowMs) {
      onWindow(lateness / ticks);
      windowStart = now;
      lateness = 0;
      ticks = 0;
    }
  }, tickMs);
  timer.unref();
  return () => clearInterval(timer);
}
