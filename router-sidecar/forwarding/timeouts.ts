// How long to wait for one attempt at a variant: the SLA budget left for this request, cut to
// `multiplier` × the variant's p99 estimate (a variant that usually answers in 2 ms is not given
// 40 ms before the router tries the next one), never below `floorMs` (network and scheduling
// noise make very short timeouts fail requests that would have succeeded).

export interface AttemptTimeoutInput {
  /** The request's latency budget (hint or SLA p99). */
  budgetMs: number;
  /** Time already spent on this request, including earlier attempts. */
  elapsedMs?: number;
  /** The variant's p99 estimate; the budget alone is used when unknown. */
  p99Ms?: number;
  multiplier?: number;
  floorMs?: number;
}

export const DEFAULT_TIMEOUT_MULTIPLIER = 4;
export const DEFAULT_TIMEOUT_FLOOR_MS = 20;

/** Whole milliseconds, rounded up. */
export function attemptTimeoutMs({
  budgetMs, elapsedMs = 0, p99Ms, multiplier = DEFAULT_TIMEOUT_MULTIPLIER, floorMs = DEFAULT_TIMEOUT_FLOOR_MS,
}: AttemptTimeoutInput): number {
  const remaining = budgetMs - elapsedMs;
  const byLatency = p99Ms !== undefined && Number.isFinite(p99Ms) && p99Ms > 0 ? multiplier * p99Ms : Infinity;
  return Math.ceil(Math.max(floorMs, Math.min(remaining, byLatency)));
}

/** Whether enough budget is left for another attempt to be worth making. */
export function canFallBack(budgetMs: number, elapsedMs: number, floorMs = DEFAULT_TIMEOUT_FLOOR_MS): boolean {
  return budgetMs - elapsedMs >= floorMs;
}
