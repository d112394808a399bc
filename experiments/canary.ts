// npm run experiment -- canary: a candidate cache policy serves a share of the sessions next to the
// current one, on the same traffic, and the router's verdict decides its promotion. Runs the
// router's own code (current and canary arms, agents, verdict) on simulated time over the distilled
// variant's real answers (./replay.ts), so it is deterministic; the HTTP side is in the e2e tests.
import { renderBars } from '../common/svg-grid.js';
import type { CacheSpec } from '../crds/types.js';
import { recordRiskTraffic, RISK_SETTINGS } from './risk.js';
import { replay } from './replay.js';
import type { ExperimentContext, ExperimentReport } from './report.js';
import { round } from './summary.js';

const CURRENT: CacheSpec = {
  enabled: true, prefixLength: 8, ttlSeconds: 2, maxEntries: 50_000, ttlMode: 'adaptive',
  drift: { metric: 'cosine', threshold: RISK_SETTINGS.threshold, sampleRate: RISK_SETTINGS.sampleRate, mode: 'enforce' },
};

export const CANDIDATES = [
  { name: 'prefix 4 (shorter key)', canary: { fraction: 0.3, prefixLength: 4, maxRisk: 0.05 } },
  { name: 'TTL 5 s (longer)', canary: { fraction: 0.3, ttlSeconds: 5, maxRisk: 0.08 } },
] as const;

export async function runCanary(context: ExperimentContext): Promise<ExperimentReport> {
  context.log(`recording the distilled variant's answers to ${RISK_SETTINGS.requests} requests (seed ${context.seed})`);
  const traffic = await recordRiskTraffic(context.seed);
  const baseline = await replay(traffic, CURRENT, context.seed);
  const trials = [];
  for (const candidate of CANDIDATES) {
    const result = await replay(traffic, { ...CURRENT, canary: candidate.canary }, context.seed);
    const report = result.canary!;
    const promoted = report.verdict === 'promote' ? await replay(traffic, { ...report.spec }, context.seed) : undefined;
    context.log(`canary ${candidate.name}: ${report.verdict} (${report.reason})`);
    trials.push({
      candidate: candidate.name,
      canary: candidate.canary,
      verdict: report.verdict,
      reason: report.reason,
      current: { hit_rate: round(report.current.hitRate), drift_risk: round(report.current.risk), samples: report.current.samples, requests: report.current.requests },
      canary_arm: { hit_rate: round(report.canary.hitRate), drift_risk: round(report.canary.risk), samples: report.canary.samples, requests: report.canary.requests },
      after_promotion: promoted
        ? { hit_rate: round(promoted.hits / promoted.requests), answers_changed_by_reuse: round(promoted.disagreements / promoted.requests) }
        : null,
    });
  }
  const json = {
    experiment: 'canary',
    seed: context.seed,
    workload: 'sessions-32 (16 tenants sharing 4 prefix features, 20% repeats, one drift episode)',
    current_policy: CURRENT,
    current_alone: { hit_rate: round(baseline.hits / baseline.requests), answers_changed_by_reuse: round(baseline.disagreements / baseline.requests) },
    trials,
  };
  const bars = renderBars({
    title: 'Canary cache policies against the current one on the same traffic',
    yLabel: 'share',
    series: [{ name: 'hit rate', color: '#1f77b4' }, { name: 'drift risk', color: '#d62728' }],
    groups: trials.flatMap((t) => [
      { label: `current (vs ${t.candidate})`, values: [t.current.hit_rate, t.current.drift_risk] },
      { label: `canary ${t.candidate}: ${t.verdict}`, values: [t.canary_arm.hit_rate, t.canary_arm.drift_risk] },
    ]),
  });
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const summary = [
    `# Experiment: canary cache policy (seed ${context.seed})`,
    '',
    `Current policy: K = ${CURRENT.prefixLength}, TTL ${CURRENT.ttlSeconds} s adaptive. Each canary serves 30% of the sessions (split by prefix) of the same ${RISK_SETTINGS.requests} requests; drift risk = share of sampled would-be hits diverging beyond ${RISK_SETTINGS.threshold}.`,
    '',
    ...trials.map((t) => `- **${t.candidate}**: ${t.verdict}. ${t.reason}.${t.after_promotion ? ` After promotion the whole traffic reaches hit rate ${pct(t.after_promotion.hit_rate)} (current alone: ${pct(json.current_alone.hit_rate)}), answers changed by reuse ${pct(t.after_promotion.answers_changed_by_reuse)} (current alone: ${pct(json.current_alone.answers_changed_by_reuse)}).` : ''}`),
  ].join('\n');
  return { name: 'canary', json, plots: { 'canary.svg': bars }, summary };
}
