// Sustainable throughput within the SLA, from a sweep of offered rates where each rate is driven
// several times: one short run is decided by a single stall of the shared machine, so a rate
// counts as sustained when most of its repeats are within the SLA.
import type { RunSummary } from './compare.js';

export interface SweepPoint {
  rate: number;
  repeats: readonly Pick<RunSummary, 'p99Ms' | 'slaViolationRate' | 'generatorLagShare'>[];
}

/** A run within the SLA: p99 within the budget, under 1% violations, the generator on schedule. */
export function withinSla(run: SweepPoint['repeats'][number], budgetMs: number): boolean {
  return run.p99Ms <= budgetMs && run.slaViolationRate < 0.01 && run.generatorLagShare < 0.05;
}

/** Whether more than half of the point's repeats are within the SLA. */
export function sustains(point: SweepPoint, budgetMs: number): boolean {
  if (point.repeats.length === 0) throw new Error(`throughput sweep: no runs at ${point.rate} req/s`);
  return point.repeats.filter((run) => withinSla(run, budgetMs)).length * 2 > point.repeats.length;
}

/**
 * The highest rate that is sustained together with every lower rate swept; 0 when the lowest is
 * not. A rate that passes above one that failed is luck, not capacity.
 */
export function sustainableRate(points: readonly SweepPoint[], budgetMs: number): number {
  let rate = 0;
  for (const point of [...points].sort((a, b) => a.rate - b.rate)) {
    if (!sustains(point, budgetMs)) break;
    rate = point.rate;
  }
  return rate;
}

/** The sweep stops once a rate's typical run (the median p99) is far past the budget. */
export function pastSaturation(point: SweepPoint, budgetMs: number): boolean {
  const p99s = point.repeats.map((run) => run.p99Ms).sort((a, b) => a - b);
  return p99s[Math.floor(p99s.length / 2)]! > 2 * budgetMs;
}
