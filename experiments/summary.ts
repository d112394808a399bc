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

export interface PairedComparison {
  /** Requests where only `a` (only `b`) is flagged. */
  onlyA: number;
  onlyB: number;
  /** McNemar's statistic (onlyA - onlyB) / sqrt(onlyA + onlyB); 0 when no request is discordant. */
  z: number;
  /** Whether `a` is flagged significantly more often than `b` (one-sided, `zCritical`). */
  aMore: boolean;
}

/**
 * McNemar's test on two settings' per-request flags over the same requests (e.g. "reuse changed
 * the answer"): only the discordant requests carry information, so two settings a handful of
 * requests apart on 16,000 are not called different. One-sided 5% by default.
 */
export function pairedComparison(a: Uint8Array, b: Uint8Array, zCritical = 1.645): PairedComparison {
  if (a.length !== b.length) throw new RangeError(`paired flags differ in length: ${a.length} and ${b.length}`);
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) onlyA++;
    else if (b[i] && !a[i]) onlyB++;
  }
  const z = onlyA + onlyB === 0 ? 0 : (onlyA - onlyB) / Math.sqrt(onlyA + onlyB);
  return { onlyA, onlyB, z: round(z, 3), aMore: z > zCritical };
}

/** Requests from `onset` to the first disable at or after it (null if none). */
export function detectionDelay(actions: readonly { request: number; action: string }[], onset: number): number | null {
  const first = actions.find((a) => a.action === 'disable' && a.request >= onset);
  return first ? first.request - onset : null;
}
