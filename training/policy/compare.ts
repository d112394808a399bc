// Summaries and paired comparisons of evaluation runs (pure; the I/O is in evaluate.ts).
import { nearestRank } from '../../common/stats.js';
import { ROLES, type Role } from '../../crds/types.js';
import type { DrivenRequest } from './drive.js';
import { bootstrapCiPaired, mcnemar, mean, pairedTTest, percentileStatistic, type ConfidenceInterval } from './stats.js';

export interface RunSummary {
  requests: number;
  accuracy: number;
  p50Ms: number;
  p99Ms: number;
  slaViolationRate: number;
  errors: number;
  shares: Record<Role, number>;
  /** Share of requests answered by the router's own copy of a variant instead of forwarded. */
  inRouterShare: number;
  /** Requests that left more than 5 ms behind schedule: the generator could not keep up. */
  generatorLagShare: number;
}

/** Errors count as wrong and as over the budget. */
export function summarizeRun(results: readonly DrivenRequest[], budgetMs: number): RunSummary {
  const latencies = results.map((r) => r.latencyMs).sort((a, b) => a - b);
  const shares = Object.fromEntries(ROLES.map((role) => [role, 0])) as Record<Role, number>;
  let correct = 0;
  let violations = 0;
  let errors = 0;
  let lagging = 0;
  let inRouter = 0;
  for (const r of results) {
    if (r.inRouter) inRouter++;
    if (r.status !== 200) errors++;
    if (r.correct) correct++;
    if (r.status !== 200 || r.latencyMs > budgetMs) violations++;
    if (r.role) shares[r.role] += 1 / results.length;
    if (r.lagMs > 5) lagging++;
  }
  const n = results.length;
  return { requests: n, accuracy: correct / n, p50Ms: nearestRank(latencies, 0.5), p99Ms: nearestRank(latencies, 0.99), slaViolationRate: violations / n, errors, shares, inRouterShare: inRouter / n, generatorLagShare: lagging / n };
}

const p99 = percentileStatistic(0.99);

export interface PairedComparison {
  /** Candidate accuracy minus baseline accuracy, with a paired bootstrap CI (requests resampled jointly). */
  accuracyDifference: ConfidenceInterval;
  /** Candidate p99 / baseline p99 over the same requests and arrival times. */
  p99Ratio: ConfidenceInterval;
  mcnemarP: number;
  /** Per-seed paired t-tests on accuracy and p99. */
  seedTests: { accuracyP: number; p99P: number; seeds: number };
}

/**
 * Compares two policies run on the same requests (same rows, same arrival times) in each seed.
 * `candidate[s][i]` and `baseline[s][i]` are request i of seed s.
 */
export function comparePaired(candidate: readonly (readonly DrivenRequest[])[], baseline: readonly (readonly DrivenRequest[])[], seed: number): PairedComparison {
  const a = candidate.flat();
  const b = baseline.flat();
  const correctA = a.map((r) => (r.correct ? 1 : 0));
  const correctB = b.map((r) => (r.correct ? 1 : 0));
  const latencyA = a.map((r) => r.latencyMs);
  const latencyB = b.map((r) => r.latencyMs);
  const accuracyDifference = bootstrapCiPaired(correctA, correctB, (x, y) => mean(x) - mean(y), { seed, resamples: 1000 });
  const p99Ratio = bootstrapCiPaired(latencyA, latencyB, (x, y) => p99(x) / p99(y), { seed: seed + 1, resamples: 1000 });
  const seedAccuracyA = candidate.map((run) => mean(run.map((r) => (r.correct ? 1 : 0))));
  const seedAccuracyB = baseline.map((run) => mean(run.map((r) => (r.correct ? 1 : 0))));
  const seedP99A = candidate.map((run) => p99(run.map((r) => r.latencyMs)));
  const seedP99B = baseline.map((run) => p99(run.map((r) => r.latencyMs)));
  const seeds = candidate.length;
  return {
    accuracyDifference,
    p99Ratio,
    mcnemarP: mcnemar(a.map((r) => r.correct), b.map((r) => r.correct)).pValue,
    seedTests: seeds >= 2 ? { accuracyP: pairedTTest(seedAccuracyA, seedAccuracyB).pValue, p99P: pairedTTest(seedP99A, seedP99B).pValue, seeds } : { accuracyP: NaN, p99P: NaN, seeds },
  };
}

export interface Point {
  name: string;
  p99Ms: number;
  accuracy: number;
}

/**
 * "Accuracy at equal latency": the candidate beats a baseline when it is at least as accurate and
 * no slower at p99 (within `latencyTolerance`, relative), and strictly better on one of the two.
 */
export function beatsAtEqualLatency(candidate: Point, baseline: Point, latencyTolerance = 0.1): boolean {
  const noSlower = candidate.p99Ms <= baseline.p99Ms * (1 + latencyTolerance);
  const noLessAccurate = candidate.accuracy >= baseline.accuracy;
  const strictly = candidate.accuracy > baseline.accuracy || candidate.p99Ms < baseline.p99Ms;
  return noSlower && noLessAccurate && strictly;
}

/** Routing agreement with the oracle: the share of requests sent to the oracle's choice. */
export function oracleAgreement(runs: readonly DrivenRequest[], oracleRoles: readonly Role[]): number {
  let same = 0;
  runs.forEach((r, i) => {
    if (r.role === oracleRoles[i]) same++;
  });
  return same / Math.max(1, runs.length);
}
