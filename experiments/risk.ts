// npm run experiment -- risk: correctness risk of reusing cached embeddings as a function of TTL and
// prefix length K, for a fixed TTL (with and without the drift agent) and the adaptive TTL; a
// recommended (TTL, K) per risk budget. The router's own cache code runs on simulated time over
// the distilled variant's real answers (./replay.ts), so the grid takes seconds, not hours.
//
// Traffic: sessions-32 sessions under tenants that share the first 4 prefix features, 20% exact
// repeats, and a drift episode (a slow ramp, then an abrupt return).
import { nearestRank } from '../common/stats.js';
import { renderChart } from '../common/svg-plot.js';
import { renderHeatMaps } from '../common/svg-grid.js';
import type { CacheSpec, TtlMode } from '../crds/types.js';
import { sessionStream, type DriftSchedule, type SessionRequest, type StreamOptions } from '../training/data/sessions32.js';
import { freshAnswers, variantDirectory } from './fresh-answers.js';
import { replay, type RecordedRequest, type ReplayResult } from './replay.js';
import { bestWithin, pairedComparison, round, type PairedComparison, type TradeOffPoint } from './summary.js';
import type { ExperimentContext, ExperimentReport } from './report.js';

export type RiskMode = 'fixed' | 'fixed+agent' | 'adaptive';
export const RISK_MODES: readonly RiskMode[] = ['fixed', 'fixed+agent', 'adaptive'];
export const RISK_BUDGETS = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05];

export interface RiskSettings {
  requests: number;
  ratePerSecond: number;
  ttlSeconds: number[];
  prefixLengths: number[];
  stream: Omit<StreamOptions, 'streamSeed'> & { drift: DriftSchedule };
  /** The sample cascade's drift settings. */
  threshold: number;
  sampleRate: number;
  /**
   * Drift thresholds the agent modes run with (the sample cascade's first): a user with a larger
   * risk budget loosens the threshold, so each TTL mode is compared over the same thresholds.
   */
  thresholds: number[];
  /**
   * Replays per setting, each with its own sampling seed (seed, seed + 1, ...): which would-be hits
   * the agent samples decides when it trips, so one replay's figures carry that luck.
   */
  samplingRuns: number;
}

export const RISK_SETTINGS: RiskSettings = {
  requests: 16_000,
  ratePerSecond: 200,
  ttlSeconds: [1, 2, 5, 10, 20, 40],
  prefixLengths: [2, 4, 6, 8, 12],
  stream: {
    activeSessions: 64, requestsPerSession: 80, withinSessionSpread: 0.1,
    tenants: { count: 16, sharedFeatures: 4 }, repeatProbability: 0.2,
    drift: { onset: 6000, rampRequests: 200, magnitude: 4, recovery: 12_000 },
  },
  threshold: 0.06,
  sampleRate: 0.1,
  thresholds: [0.06, 0.1, 0.4],
  samplingRuns: 3,
};

export interface RiskCell {
  ttl_seconds: number;
  prefix_length: number;
  mode: RiskMode;
  /** The agent's drift threshold; null for the fixed mode, which only observes. */
  drift_threshold: number | null;
  hit_rate: number;
  /** Share of all requests whose answer differs from the fresh one because of reuse. */
  risk: number;
  risk_on_hits: number;
  error_rate: number;
  fresh_error_rate: number;
  error_increase: number;
  divergence_cosine_p99_on_hits: number;
  /** Per replay (the mean over samplingRuns). */
  expirations: number;
  disables: number;
  /** Adaptive TTL: agent actions that expired entries early (each disable and enable). */
  early_expiries: number;
}

export function cacheSpecFor(ttlSeconds: number, prefixLength: number, mode: RiskMode, settings: RiskSettings = RISK_SETTINGS, threshold = settings.threshold): CacheSpec {
  const ttlMode: TtlMode = mode === 'adaptive' ? 'adaptive' : 'fixed';
  return {
    enabled: true, prefixLength, ttlSeconds, maxEntries: 50_000, ttlMode,
    drift: { metric: 'cosine', threshold, sampleRate: settings.sampleRate, mode: mode === 'fixed' ? 'observe' : 'enforce' },
  };
}

/** The drift thresholds a mode runs with: the fixed mode only observes, so one run stands for all. */
export const thresholdsFor = (mode: RiskMode, settings: RiskSettings): number[] => (mode === 'fixed' ? [settings.threshold] : settings.thresholds);

export async function recordRiskTraffic(seed: number, settings: RiskSettings = RISK_SETTINGS): Promise<RecordedRequest[]> {
  const stream = sessionStream({ ...settings.stream, streamSeed: seed });
  const requests: SessionRequest[] = [];
  for (let i = 0; i < settings.requests; i++) requests.push(stream.next().value as SessionRequest);
  const answers = await freshAnswers(requests, variantDirectory('sessions-32', 'distilled'));
  return requests.map((r, i) => ({
    atMs: (i * 1000) / settings.ratePerSecond,
    features: r.features,
    label: r.label,
    embedding: answers[i]!.embedding,
    probabilities: answers[i]!.probabilities,
  }));
}

/** `runs` replays of the same traffic with sampling seeds seed, seed + 1, ...; counts summed, per-request flags concatenated. */
async function replayRuns(traffic: readonly RecordedRequest[], cache: CacheSpec, seed: number, runs: number) {
  const results: ReplayResult[] = [];
  for (let run = 0; run < runs; run++) results.push(await replay(traffic, cache, seed + run));
  const sum = (field: 'requests' | 'hits' | 'disagreements' | 'servedErrors' | 'freshErrors' | 'expirations') => results.reduce((n, r) => n + r[field], 0);
  const flags = new Uint8Array(sum('requests'));
  let offset = 0;
  for (const r of results) {
    flags.set(r.disagreementFlags, offset);
    offset += r.requests;
  }
  return {
    requests: sum('requests'), hits: sum('hits'), disagreements: sum('disagreements'), servedErrors: sum('servedErrors'),
    freshErrors: sum('freshErrors'), expirations: sum('expirations'), hitCosine: results.flatMap((r) => r.hitCosine),
    actions: results.flatMap((r) => r.actions), disagreementFlags: flags,
  };
}

/** Per cell, which requests' answers reuse changed: for paired comparisons between cells. */
export type DisagreementFlags = Map<RiskCell, Uint8Array>;

export async function riskGrid(
  traffic: readonly RecordedRequest[], seed: number, settings: RiskSettings = RISK_SETTINGS,
  onCell?: (done: number, total: number) => void, flags?: DisagreementFlags,
): Promise<RiskCell[]> {
  const cells: RiskCell[] = [];
  const total = settings.ttlSeconds.length * settings.prefixLengths.length * RISK_MODES.reduce((n, mode) => n + thresholdsFor(mode, settings).length, 0);
  for (const mode of RISK_MODES) {
    for (const threshold of thresholdsFor(mode, settings)) for (const prefixLength of settings.prefixLengths) {
      for (const ttlSeconds of settings.ttlSeconds) {
        const result = await replayRuns(traffic, cacheSpecFor(ttlSeconds, prefixLength, mode, settings, threshold), seed, settings.samplingRuns);
        const n = result.requests;
        const enforced = result.actions.filter((a) => a.enforced);
        const perRun = (count: number) => round(count / settings.samplingRuns, 2);
        cells.push({
          ttl_seconds: ttlSeconds,
          prefix_length: prefixLength,
          mode,
          drift_threshold: mode === 'fixed' ? null : threshold,
          hit_rate: round(result.hits / n),
          risk: round(result.disagreements / n),
          risk_on_hits: round(result.hits > 0 ? result.disagreements / result.hits : 0),
          error_rate: round(result.servedErrors / n),
          fresh_error_rate: round(result.freshErrors / n),
          error_increase: round((result.servedErrors - result.freshErrors) / n),
          divergence_cosine_p99_on_hits: round(nearestRank([...result.hitCosine].sort((a, b) => a - b), 0.99)),
          expirations: perRun(result.expirations),
          disables: perRun(enforced.filter((a) => a.action === 'disable').length),
          early_expiries: perRun(enforced.filter((a) => a.expiredStoredBefore !== undefined).length),
        });
        flags?.set(cells[cells.length - 1]!, result.disagreementFlags);
        onCell?.(cells.length, total);
      }
    }
  }
  return cells;
}

const point = (cell: RiskCell): TradeOffPoint & { cell: RiskCell } => ({ hitRate: cell.hit_rate, risk: cell.risk, cell });

export interface Recommendation {
  risk_budget: number;
  ttl_seconds: number | null;
  prefix_length: number | null;
  mode: RiskMode | null;
  drift_threshold: number | null;
  hit_rate: number;
  risk: number;
}

/** Per budget, the setting with the most reuse whose risk stays within it (null: keep the cache off). */
export function recommend(cells: readonly RiskCell[], budgets: readonly number[] = RISK_BUDGETS): Recommendation[] {
  return budgets.map((budget) => {
    const best = bestWithin(cells.map(point), budget)?.cell;
    return best
      ? { risk_budget: budget, ttl_seconds: best.ttl_seconds, prefix_length: best.prefix_length, mode: best.mode, drift_threshold: best.drift_threshold, hit_rate: best.hit_rate, risk: best.risk }
      : { risk_budget: budget, ttl_seconds: null, prefix_length: null, mode: null, drift_threshold: null, hit_rate: 0, risk: 0 };
  });
}

/**
 * Adaptive TTL against every fixed-TTL setting (with or without the agent) over the given K: for each
 * fixed setting, the most reuse an adaptive setting reaches without more risk. Adaptive "at least
 * matches the best fixed TTL" when no fixed setting beats it by more than `tolerance` of hit rate.
 * "Without more risk": a lower or equal risk, or, given both settings' per-request flags, a risk
 * not significantly higher on the same requests (McNemar, one-sided 5%), since settings a few
 * requests apart on the same traffic are not different in any sense a user could act on. Fixed
 * settings riskier than `maxRisk` (beyond every risk budget considered) are left out.
 */
export function adaptiveVersusFixed(
  cells: readonly RiskCell[], prefixLengths: readonly number[], tolerance = 0.005, flags?: ReadonlyMap<RiskCell, Uint8Array>, maxRisk = Infinity,
) {
  const within = cells.filter((c) => prefixLengths.includes(c.prefix_length));
  const adaptive = within.filter((c) => c.mode === 'adaptive');
  const paired = (a: RiskCell, b: RiskCell): PairedComparison | undefined => {
    const fa = flags?.get(a);
    const fb = flags?.get(b);
    return fa && fb ? pairedComparison(fa, fb) : undefined;
  };
  const against = within.filter((c) => c.mode !== 'adaptive' && c.risk <= maxRisk).map((fixed) => {
    const tests = new Map(adaptive.filter((a) => a.risk > fixed.risk).map((a) => [a, paired(a, fixed)]));
    const eligible = adaptive.filter((a) => a.risk <= fixed.risk || tests.get(a)?.aMore === false);
    // Eligibility already holds the risk condition: among the eligible, the most reuse.
    const best = bestWithin(eligible.map(point), Infinity)?.cell;
    const test = best ? tests.get(best) : undefined;
    return {
      fixed: { mode: fixed.mode, ttl_seconds: fixed.ttl_seconds, prefix_length: fixed.prefix_length, drift_threshold: fixed.drift_threshold, hit_rate: fixed.hit_rate, risk: fixed.risk },
      adaptive: best ? { ttl_seconds: best.ttl_seconds, prefix_length: best.prefix_length, drift_threshold: best.drift_threshold, hit_rate: best.hit_rate, risk: best.risk } : null,
      ...(test ? { higher_risk_not_significant: { only_adaptive_changed: test.onlyA, only_fixed_changed: test.onlyB, z: test.z } } : {}),
      margin: round((best?.hit_rate ?? 0) - fixed.hit_rate),
    };
  });
  const worst = against.reduce((a, b) => (b.margin < a.margin ? b : a), against[0]!);
  return {
    prefix_lengths: [...prefixLengths], tolerance, max_fixed_risk: Number.isFinite(maxRisk) ? maxRisk : null, risk_test: flags ? 'McNemar one-sided 5% on paired requests' : 'risk <= fixed risk',
    against, worst, holds: against.every((c) => c.margin >= -tolerance),
  };
}

/** Claim: a shorter TTL bounds staleness (lower risk) and costs recomputation (lower hit rate). */
export function ttlClaim(cells: readonly RiskCell[], prefixLength: number) {
  const row = cells.filter((c) => c.mode === 'fixed' && c.prefix_length === prefixLength).sort((a, b) => a.ttl_seconds - b.ttl_seconds);
  const nonDecreasing = (values: number[]) => values.every((v, i) => i === 0 || v >= values[i - 1]! - 1e-9);
  const risks = row.map((c) => c.risk);
  const hits = row.map((c) => c.hit_rate);
  return {
    prefix_length: prefixLength,
    ttl_seconds: row.map((c) => c.ttl_seconds),
    risk: risks,
    hit_rate: hits,
    risk_grows_with_ttl: nonDecreasing(risks) && risks[risks.length - 1]! > risks[0]!,
    hit_rate_grows_with_ttl: nonDecreasing(hits) && hits[hits.length - 1]! > hits[0]!,
  };
}

export async function runRisk(context: ExperimentContext, settings: RiskSettings = RISK_SETTINGS): Promise<ExperimentReport> {
  context.log(`recording the distilled variant's answers to ${settings.requests} requests (seed ${context.seed})`);
  const traffic = await recordRiskTraffic(context.seed, settings);
  const flags: DisagreementFlags = new Map();
  const cells = await riskGrid(traffic, context.seed, settings, (done, total) => {
    if (done % 10 === 0 || done === total) context.log(`replayed ${done}/${total} cache settings`);
  }, flags);
  const sessionK = 8;
  const recommendations = recommend(cells);
  const maxBudget = Math.max(...RISK_BUDGETS);
  const adaptive = adaptiveVersusFixed(cells, settings.prefixLengths, undefined, flags, maxBudget);
  const adaptiveAtSessionK = adaptiveVersusFixed(cells, [sessionK], undefined, flags, maxBudget);
  const ttl = ttlClaim(cells, sessionK);
  const json = {
    experiment: 'risk',
    seed: context.seed,
    workload: 'sessions-32',
    variant: 'distilled',
    settings,
    risk_definition: 'share of all requests whose answer differs from the fresh answer because a cached embedding was reused',
    grid: cells,
    recommendations,
    adaptive_vs_fixed: { all_prefix_lengths: adaptive, session_prefix_length: adaptiveAtSessionK },
    claims: { ttl_bounds_staleness: { ...ttl, holds: ttl.risk_grows_with_ttl && ttl.hit_rate_grows_with_ttl } },
  };
  const columns = settings.ttlSeconds.map((t) => `${t} s`);
  const rows = settings.prefixLengths.map((k) => `K = ${k}`);
  const grid = (mode: RiskMode, field: 'risk' | 'hit_rate') =>
    settings.prefixLengths.map((k) => settings.ttlSeconds.map((t) => cells.find((c) => c.mode === mode && c.prefix_length === k && c.ttl_seconds === t && (c.drift_threshold ?? settings.threshold) === settings.threshold)?.[field] ?? NaN));
  const heat = renderHeatMaps('Correctness risk of cache reuse (sessions-32, distilled): TTL x prefix length K', [
    { title: 'risk, fixed TTL, no agent (answers changed by reuse)', xLabel: 'TTL', yLabel: 'prefix length', columns, rows, values: grid('fixed', 'risk'), format: (v) => `${(v * 100).toFixed(2)}%` },
    { title: 'hit rate, fixed TTL, no agent', xLabel: 'TTL', yLabel: 'prefix length', columns, rows, values: grid('fixed', 'hit_rate'), format: (v) => `${(v * 100).toFixed(1)}%` },
    { title: 'risk, adaptive TTL with the agent', xLabel: 'TTL (base)', yLabel: 'prefix length', columns, rows, values: grid('adaptive', 'risk'), format: (v) => `${(v * 100).toFixed(2)}%` },
    { title: 'hit rate, adaptive TTL with the agent', xLabel: 'TTL (base)', yLabel: 'prefix length', columns, rows, values: grid('adaptive', 'hit_rate'), format: (v) => `${(v * 100).toFixed(1)}%` },
  ]);
  const colors: Record<RiskMode, string> = { fixed: '#7f7f7f', 'fixed+agent': '#1f77b4', adaptive: '#d62728' };
  const frontier = renderChart({
    title: `Risk vs reuse at K = ${sessionK} over TTL ${settings.ttlSeconds.join(', ')} s and drift threshold ${settings.thresholds.join(', ')} (each dot one setting)`,
    xLabel: 'hit rate (share of requests answered from the cache; latency falls as it rises)',
    panels: [{
      title: 'risk (share of answers changed by reuse)',
      yLabel: 'risk',
      series: RISK_MODES.map((mode) => ({
        name: mode,
        color: colors[mode],
        style: 'dots' as const,
        points: cells.filter((c) => c.mode === mode && c.prefix_length === sessionK).map((c) => [c.hit_rate, c.risk] as [number, number]),
      })),
    }],
  });
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const summary = [
    `# Experiment: correctness risk over TTL and prefix length (seed ${context.seed})`,
    '',
    `${settings.requests} sessions-32 requests at ${settings.ratePerSecond}/s (simulated time), 16 tenants sharing 4 prefix features, 20% exact repeats, drift from request ${settings.stream.drift.onset} (ramp ${settings.stream.drift.rampRequests}, magnitude ${settings.stream.drift.magnitude}) to ${settings.stream.drift.recovery}. The router's cache and agent code replays the distilled variant's real answers. Risk = share of requests whose answer reuse changed.`,
    '',
    `- **Claim "TTL bounds staleness at the cost of recomputation"** (K = ${sessionK}, fixed TTL, no agent): ${json.claims.ttl_bounds_staleness.holds ? 'confirmed' : 'not confirmed'}. TTL ${ttl.ttl_seconds.join(' / ')} s gives risk ${ttl.risk.map(pct).join(' / ')} and hit rate ${ttl.hit_rate.map(pct).join(' / ')}.`,
    `- **Prefix length**: K below the 4 features tenants share reuses other sessions' embeddings (K = 2, TTL 10 s: risk ${pct(cells.find((c) => c.mode === 'fixed' && c.prefix_length === 2 && c.ttl_seconds === 10)?.risk ?? NaN)}); K = 12 (longer than the session prefix) only reuses exact repeats (risk ${pct(cells.find((c) => c.mode === 'fixed' && c.prefix_length === 12 && c.ttl_seconds === 10)?.risk ?? NaN)}, hit rate ${pct(cells.find((c) => c.mode === 'fixed' && c.prefix_length === 12 && c.ttl_seconds === 10)?.hit_rate ?? NaN)}).`,
    `- **Adaptive TTL vs the best fixed TTL** (${adaptive.against.length} fixed settings: every TTL and K, without the agent and with it at drift threshold ${settings.thresholds.join(' / ')}, whose risk is within the largest budget, ${pct(maxBudget)}; each replayed ${settings.samplingRuns} times with different sampling seeds; for each, the most reuse an adaptive setting reaches without more risk, where a risk higher by an amount McNemar's test on the same requests does not call significant counts as no more; tolerance ${pct(adaptive.tolerance)} of hit rate): ${adaptive.holds ? `matches or beats every fixed setting (worst margin ${pct(adaptive.worst.margin)}: fixed ${adaptive.worst.fixed.mode} TTL ${adaptive.worst.fixed.ttl_seconds} s K = ${adaptive.worst.fixed.prefix_length} reaches ${pct(adaptive.worst.fixed.hit_rate)} at risk ${pct(adaptive.worst.fixed.risk)}, adaptive ${adaptive.worst.adaptive ? `${pct(adaptive.worst.adaptive.hit_rate)} at ${pct(adaptive.worst.adaptive.risk)}` : 'nothing'})` : `does not match: worst case fixed ${adaptive.worst.fixed.mode} TTL ${adaptive.worst.fixed.ttl_seconds} s K = ${adaptive.worst.fixed.prefix_length} reaches hit rate ${pct(adaptive.worst.fixed.hit_rate)} at risk ${pct(adaptive.worst.fixed.risk)}; adaptive reaches ${adaptive.worst.adaptive ? pct(adaptive.worst.adaptive.hit_rate) : 'no reuse'} within that risk`}. At K = ${sessionK} alone: ${adaptiveAtSessionK.holds ? `matches (worst margin ${pct(adaptiveAtSessionK.worst.margin)})` : `worst margin ${pct(adaptiveAtSessionK.worst.margin)}`}.`,
    '',
    '| risk budget | TTL | K | mode | drift threshold | hit rate | risk |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...recommendations.map((r) => `| ${pct(r.risk_budget)} | ${r.ttl_seconds ?? 'cache off'} | ${r.prefix_length ?? '-'} | ${r.mode ?? '-'} | ${r.drift_threshold ?? '-'} | ${pct(r.hit_rate)} | ${pct(r.risk)} |`),
  ].join('\n');
  return { name: 'risk', json, plots: { 'risk-heatmap.svg': heat, 'risk-frontier.svg': frontier }, summary };
}

