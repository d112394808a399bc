// npm run experiment -- drift: the prefix stays fixed while the suffix drifts; through the real
// router and variant servers (the demo's launcher), one client in stream order with a seeded
// router, so every cache decision repeats. Three runs: drift with the agent enforcing, the same
// drift with the agent only observing (no agent), and a drift-free control for false positives.
//
// The experiment keeps a mirror of the router's cache (the embedding each key was last filled with)
// so it can measure, on every hit and not only the router's samples, how far the reused embedding
// is from the fresh one (cosine and L2) and whether reuse changed the answer.
import { nearestRank } from '../common/stats.js';
import { renderChart } from '../common/svg-plot.js';
import { divergence } from '../router-sidecar/agent/divergence.js';
import { prefixKey } from '../router-sidecar/cache/prefix-key.js';
import { startLocalCascade } from '../scripts/standalone/local-cascade.js';
import { drive, type RequestRecord } from '../scripts/standalone/traffic.js';
import type { Role } from '../crds/types.js';
import { sessionStream, type DriftSchedule, type SessionRequest } from '../training/data/sessions32.js';
import path from 'node:path';
import { ROOT } from '../scripts/cluster/paths.js';
import { freshAnswers, variantDirectory, type FreshAnswer } from './fresh-answers.js';
import type { ExperimentContext, ExperimentReport } from './report.js';
import { detectionDelay, round } from './summary.js';

export const DRIFT_SETTINGS: {
  requests: number;
  drift: Required<DriftSchedule>;
  stream: { activeSessions: number; requestsPerSession: number; withinSessionSpread: number };
  ttlSeconds: number;
} = {
  requests: 6000,
  drift: { onset: 2000, rampRequests: 50, magnitude: 4, recovery: 4000 },
  stream: { activeSessions: 32, requestsPerSession: 60, withinSessionSpread: 0.1 },
  /** Long enough that nothing expires during a run: this experiment isolates the agent's reuse switch. */
  ttlSeconds: 600,
};

/** Every request is routed here, so cache keys do not depend on load; fresh answers come from it too. */
const ROUTED_ROLE = 'distilled' satisfies Role;
const ATTEMPT_TIMEOUT_FLOOR_MS = 5000;

type RunName = 'with-agent' | 'without-agent' | 'control';

interface RunRecord {
  name: RunName;
  served: RequestRecord[];
  actions: { request: number; at: number; action: string; reason: string; enforced: boolean; ttlMs?: number }[];
}

const PHASES = (n: number, drift: DriftSchedule) => [
  ['steady', 0, drift.onset],
  ['drift', drift.onset, drift.recovery ?? n],
  ['recovery', drift.recovery ?? n, n],
] as const;

async function runOnce(name: RunName, requests: readonly SessionRequest[], seed: number, ttlSeconds: number, log: (m: string) => void): Promise<RunRecord> {
  const local = await startLocalCascade({
    cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
    // No attempt is cut short: a variant slowed down by a busy machine would otherwise make the
    // router fall back to another variant, whose answer fills a different cache key, and the
    // run would no longer repeat from its seed.
    routerFlags: ['--seed', String(seed), '--attempt-timeout-floor-ms', String(ATTEMPT_TIMEOUT_FLOOR_MS)],
    adjust: (config) => {
      config.policy = { type: 'static', staticRole: ROUTED_ROLE };
      config.sla = { ...config.sla, p99LatencyMs: 2 * ATTEMPT_TIMEOUT_FLOOR_MS };
      config.cache = { ...config.cache, ttlSeconds, drift: { ...config.cache.drift, mode: name === 'without-agent' ? 'observe' : 'enforce' } };
    },
  });
  try {
    // One client: the router sees the requests in stream order.
    const served = await drive(local.router.url, requests.values(), requests.length, 1, (done) => {
      if (done % 2000 === 0) log(`${name}: ${done}/${requests.length} requests`);
    });
    const status = (await (await fetch(`${local.router.url}/status`)).json()) as { agent: { actions: RunRecord['actions'] } };
    return { name, served, actions: status.agent.actions };
  } finally {
    await local.stop();
  }
}

const p99 = (values: number[]) => nearestRank([...values].sort((a, b) => a - b), 0.99);
const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

/** Per request: the reused embedding's divergence from the fresh one (on hits), from the cache mirror. */
function mirror(run: RunRecord, requests: readonly SessionRequest[], fresh: readonly FreshAnswer[]) {
  const filledBy = new Map<string, number>();
  const cosine: (number | undefined)[] = [];
  const l2: (number | undefined)[] = [];
  let mismatches = 0;
  for (const [i, r] of requests.entries()) {
    const served = run.served[i]!;
    if (served.status !== 200 || served.variant === undefined) {
      // Failed requests neither read nor fill the router's cache.
      cosine.push(undefined);
      l2.push(undefined);
      continue;
    }
    const key = prefixKey({ cascade: 'default/fraud-scorer', modelVersion: '1', variant: served.variant, features: r.features, prefixLength: 8 });
    if (served.cacheHit) {
      const filler = filledBy.get(key);
      if (filler === undefined || fresh[filler]!.prediction !== served.prediction) mismatches++;
      cosine.push(filler === undefined ? undefined : divergence('cosine', fresh[filler]!.embedding, fresh[i]!.embedding));
      l2.push(filler === undefined ? undefined : divergence('l2', fresh[filler]!.embedding, fresh[i]!.embedding));
    } else {
      filledBy.set(key, i);
      cosine.push(undefined);
      l2.push(undefined);
    }
  }
  return { cosine, l2, mismatches };
}

export type DriftSettings = typeof DRIFT_SETTINGS;

export async function runDrift(context: ExperimentContext, settings: DriftSettings = DRIFT_SETTINGS): Promise<ExperimentReport> {
  const { drift, requests: n } = settings;
  const take = (withDrift: boolean) => {
    const stream = sessionStream({ ...settings.stream, streamSeed: context.seed, ...(withDrift ? { drift } : {}) });
    return Array.from({ length: n }, () => stream.next().value as SessionRequest);
  };
  const drifted = take(true);
  const control = take(false);
  context.log(`computing fresh answers of the ${ROUTED_ROLE} variant for every request`);
  const freshDrifted = await freshAnswers(drifted, variantDirectory('sessions-32', ROUTED_ROLE));
  const freshControl = await freshAnswers(control, variantDirectory('sessions-32', ROUTED_ROLE));
  const runs: RunRecord[] = [];
  for (const name of ['with-agent', 'without-agent', 'control'] as const) {
    context.log(`run ${name}: starting the cascade (router seed ${context.seed})`);
    runs.push(await runOnce(name, name === 'control' ? control : drifted, context.seed, settings.ttlSeconds, context.log));
  }
  const summarize = (run: RunRecord) => {
    const requests = run.name === 'control' ? control : drifted;
    const fresh = run.name === 'control' ? freshControl : freshDrifted;
    const m = mirror(run, requests, fresh);
    const phases = Object.fromEntries(PHASES(n, drift).map(([phase, from, to]) => {
      const idx = Array.from({ length: to - from }, (_, k) => from + k);
      const ok = idx.filter((i) => run.served[i]!.status === 200);
      const hits = ok.filter((i) => run.served[i]!.cacheHit);
      const cos = hits.map((i) => m.cosine[i]).filter((v): v is number => v !== undefined);
      const l2 = hits.map((i) => m.l2[i]).filter((v): v is number => v !== undefined);
      return [phase, {
        requests: idx.length,
        errors: idx.length - ok.length,
        served_by_another_variant: ok.filter((i) => run.served[i]!.variant !== ROUTED_ROLE).length,
        hit_rate: round(hits.length / Math.max(1, ok.length)),
        prediction_error: round(ok.filter((i) => run.served[i]!.prediction !== requests[i]!.label).length / Math.max(1, ok.length)),
        fresh_prediction_error: round(ok.filter((i) => fresh[i]!.prediction !== requests[i]!.label).length / Math.max(1, ok.length)),
        reuse_changed_answers: round(ok.filter((i) => run.served[i]!.prediction !== fresh[i]!.prediction).length / Math.max(1, ok.length)),
        divergence_on_hits: {
          cosine: { mean: round(mean(cos)), p99: round(p99(cos)) },
          l2: { mean: round(mean(l2)), p99: round(p99(l2)) },
        },
      }];
    }));
    const enforced = run.actions.filter((a) => a.enforced !== false);
    return { phases, mirror_mismatches: m.mismatches, actions: run.actions, disables: enforced.filter((a) => a.action === 'disable').length, series: m };
  };
  const withAgent = summarize(runs[0]!);
  const withoutAgent = summarize(runs[1]!);
  const controlRun = summarize(runs[2]!);
  // The router numbers requests from 1 in arrival order; request i of the stream is router request i + 1.
  const onsetRequest = drift.onset + 1;
  const delay = detectionDelay(runs[0]!.actions, onsetRequest);
  const firstDisable = runs[0]!.actions.find((a) => a.action === 'disable' && a.request >= onsetRequest);
  const delaySeconds = firstDisable ? round((firstDisable.at - runs[0]!.served[drift.onset]!.sentAt) / 1000, 3) : null;
  const wouldDisable = runs[1]!.actions.find((a) => a.action === 'disable' && a.request >= onsetRequest);
  const json = {
    experiment: 'drift',
    seed: context.seed,
    workload: 'sessions-32',
    settings,
    routing: `static to the ${ROUTED_ROLE} variant (so cache keys do not depend on load), no attempt cut before ${ATTEMPT_TIMEOUT_FLOOR_MS} ms (so none falls back for timing)`,
    detection_delay_requests: delay,
    detection_delay_seconds: delaySeconds,
    false_positives_control: controlRun.disables,
    false_positive_rate_control: round(controlRun.disables / n, 6),
    observe_only_would_disable_at: wouldDisable ? wouldDisable.request - onsetRequest : null,
    runs: {
      'with-agent': { phases: withAgent.phases, agent_actions: withAgent.actions, mirror_mismatches: withAgent.mirror_mismatches },
      'without-agent': { phases: withoutAgent.phases, agent_actions: withoutAgent.actions, mirror_mismatches: withoutAgent.mirror_mismatches },
      control: { phases: controlRun.phases, agent_actions: controlRun.actions, mirror_mismatches: controlRun.mirror_mismatches },
    },
    claims: {
      drift_raises_risk_while_hits_stay_high: {
        hit_rate_steady: withoutAgent.phases.steady!.hit_rate,
        hit_rate_drift: withoutAgent.phases.drift!.hit_rate,
        reuse_changed_answers_steady: withoutAgent.phases.steady!.reuse_changed_answers,
        reuse_changed_answers_drift: withoutAgent.phases.drift!.reuse_changed_answers,
        holds: withoutAgent.phases.drift!.hit_rate >= withoutAgent.phases.steady!.hit_rate - 0.05 && withoutAgent.phases.drift!.reuse_changed_answers > withoutAgent.phases.steady!.reuse_changed_answers,
      },
      agent_detects_within_200_requests: delay !== null && delay < 200,
      agent_zero_false_positives: controlRun.disables === 0,
    },
  };
  const window = 100;
  const rolling = (value: (i: number) => number) => {
    const points: [number, number][] = [];
    for (let start = 0; start + window <= n; start += window) {
      let sum = 0;
      for (let i = start; i < start + window; i++) sum += value(i);
      points.push([start + window / 2, sum / window]);
    }
    return points;
  };
  const dots = (values: (number | undefined)[]) => values.flatMap((v, i) => (v === undefined || i % 3 !== 0 ? [] : [[i, v] as [number, number]]));
  const agentState = (run: RunRecord) => {
    let enabled = 1;
    const points: [number, number][] = [[0, 1]];
    for (const a of run.actions.filter((x) => x.action === 'disable' || x.action === 'enable')) {
      points.push([a.request - 1, enabled]);
      enabled = a.action === 'disable' ? 0 : 1;
      points.push([a.request - 1, enabled]);
    }
    points.push([n, enabled]);
    return points;
  };
  const plot = renderChart({
    title: `Drift experiment (seed ${context.seed}): suffix shifted by ${drift.magnitude} from request ${drift.onset} to ${drift.recovery}`,
    xLabel: 'request',
    markers: [
      { x: drift.onset, label: 'drift onset', color: '#d62728' },
      { x: drift.recovery, label: 'drift ends', color: '#2ca02c' },
    ],
    panels: [
      { title: 'cosine divergence of the reused embedding from the fresh one, every hit (no agent)', yLabel: 'cosine', series: [{ name: 'hit', color: '#444', style: 'dots', points: dots(withoutAgent.series.cosine) }], hlines: [{ y: 0.06, label: 'threshold 0.06', color: '#d62728' }] },
      { title: 'L2 divergence, every hit (no agent)', yLabel: 'L2', series: [{ name: 'hit', color: '#777', style: 'dots', points: dots(withoutAgent.series.l2) }] },
      { title: 'agent state: reuse enabled (1) or disabled (0)', yLabel: 'reuse', yMax: 1.1, series: [{ name: 'with agent', color: '#9467bd', points: agentState(runs[0]!) }, { name: 'control run', color: '#2ca02c', points: agentState(runs[2]!) }] },
      {
        title: `prediction error per ${window} requests`, yLabel: 'error rate',
        series: [
          { name: 'without agent', color: '#ff7f0e', points: rolling((i) => (runs[1]!.served[i]!.prediction !== drifted[i]!.label ? 1 : 0)) },
          { name: 'with agent', color: '#1f77b4', points: rolling((i) => (runs[0]!.served[i]!.prediction !== drifted[i]!.label ? 1 : 0)) },
          { name: 'fresh (no reuse)', color: '#2ca02c', points: rolling((i) => (freshDrifted[i]!.prediction !== drifted[i]!.label ? 1 : 0)) },
        ],
      },
    ],
  });
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const claim = json.claims.drift_raises_risk_while_hits_stay_high;
  const phase = (run: typeof withAgent, p: string) => run.phases[p]!;
  const summary = [
    `# Experiment: drift (seed ${context.seed})`,
    '',
    `${n} sessions-32 requests through the real router and variant servers (static to distilled, one client, router seed ${context.seed}); the suffix drifts by ${drift.magnitude} from request ${drift.onset} (ramp ${drift.rampRequests}) until ${drift.recovery}.`,
    '',
    `- **Claim "drift silently raises correctness risk while hit rates stay high"**: ${claim.holds ? 'confirmed' : 'not confirmed'}. Without the agent the hit rate is ${pct(claim.hit_rate_steady)} before and ${pct(claim.hit_rate_drift)} during drift, while answers changed by reuse rise from ${pct(claim.reuse_changed_answers_steady)} to ${pct(claim.reuse_changed_answers_drift)} (cosine divergence on hits: mean ${phase(withoutAgent, 'steady').divergence_on_hits.cosine.mean} -> ${phase(withoutAgent, 'drift').divergence_on_hits.cosine.mean}, p99 ${phase(withoutAgent, 'steady').divergence_on_hits.cosine.p99} -> ${phase(withoutAgent, 'drift').divergence_on_hits.cosine.p99}).`,
    `- **Detection**: the agent disabled reuse ${delay ?? 'never'} requests (${delaySeconds ?? '-'} s) after drift onset (target < 200); ${controlRun.disables} false positives on the ${n}-request control run.`,
    `- **Prediction error during drift**: ${pct(phase(withAgent, 'drift').prediction_error)} with the agent, ${pct(phase(withoutAgent, 'drift').prediction_error)} without, ${pct(phase(withAgent, 'drift').fresh_prediction_error)} with no reuse at all; after drift ends (recovery): ${pct(phase(withAgent, 'recovery').prediction_error)} / ${pct(phase(withoutAgent, 'recovery').prediction_error)} / ${pct(phase(withAgent, 'recovery').fresh_prediction_error)}.`,
    `- Cache mirror check: ${withAgent.mirror_mismatches + withoutAgent.mirror_mismatches + controlRun.mirror_mismatches} hits whose answer the mirror could not explain (0 means the divergences above are the router's real reuse).`,
  ].join('\n');
  return { name: 'drift', json, plots: { 'drift.svg': plot }, summary };
}
