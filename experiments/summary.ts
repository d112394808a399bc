// Pure summaries shared by the experiments: latency percentiles, trade-off frontiers and the
// recommendation of a cache setting per risk budget.
import { nearestRank } from '../common/stats.js';

export const round = (n: number, digits = 4): number => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n);

export interface LatencySummary {
  mean_ms: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export function latencySummary(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { mean_ms: NaN, p50_ms: NaN, p95_ms: NaN, p99_ms: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    mean_ms: round(sorted.reduce((a, b) => a + b, 0) / sorted.length, 3),
    p50_ms: round(nearestRank(sorted, 0.5), 3),
    p95_ms: round(nearestRank(sorted, 0.95), 3),
    p99_ms: round(nearestRank(sorted, 0.99), 3),
  };
}

/** A cache setting's outcome: how often it reused (higher is cheaper) and how often reuse changed the answer. */
export interface TradeOffPoint {
  hitRate: number;
  risk: number;
}

/** The best hit rate reachable within `budget` risk among `points` (0 when none qualifies: cache off). */
export function bestWithin<T extends TradeOffPoint>(points: readonly T[], budget: number): T | undefined {
  let best: T | undefined;
  for (const point of points) {
    if (point.risk > budget) continue;
    if (!best || point.hitRate > best.hitRate || (point.hitRate === best.hitRate && point.risk < best.risk)) best = point;
  }
  return best;
}

/** Requests from `onset` to the first disable at or after it (null if none). */
export function detectionDelay(actions: readonly { request: number; action: string }[], onset: number): number | null {
  const first = actions.find((a) => a.action === 'disable' && a.request >= onset);
  return first ? first.request - onset : null;
}
