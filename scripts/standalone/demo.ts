// npm run demo: the whole cascade on this machine with no cluster. Starts the four variant servers
// and the router from manifests/samples/cascade.yaml, drives sessions-32 traffic through a steady
// phase, a drift phase and a recovery phase, then prints what happened and writes
// reports/demo.json and reports/demo.svg.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { nearestRank } from '../../common/stats.js';
import { renderChart } from '../../common/svg-plot.js';
import { ROLES } from '../../crds/types.js';
import { sessionStream } from '../../training/data/sessions32.js';
import { ROOT } from '../cluster/paths.js';
import { startLocalCascade } from './local-cascade.js';
import { drive, type RequestRecord } from './traffic.js';

const PHASE = 3000;
const DRIFT = { onset: PHASE, rampRequests: 50, magnitude: 4, recovery: 2 * PHASE };
const TOTAL = 3 * PHASE;
const CONCURRENCY = 4;
const say = (message: string) => console.log(`[demo] ${message}`);

const percentile = (values: number[], q: number): number => nearestRank([...values].sort((a, b) => a - b), q);

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

function summarize(records: RequestRecord[]) {
  const ok = records.filter((r) => r.status === 200);
  return {
    requests: records.length,
    errors: records.length - ok.length,
    accuracy: round(ok.filter((r) => r.prediction === r.label).length / Math.max(1, ok.length), 4),
    cache_hit_rate: round(ok.filter((r) => r.cacheHit).length / Math.max(1, ok.length), 4),
    p50_ms: round(percentile(ok.map((r) => r.latencyMs), 0.5)),
    p99_ms: round(percentile(ok.map((r) => r.latencyMs), 0.99)),
  };
}

const cascadeFile = path.join(ROOT, 'manifests', 'samples', 'cascade.yaml');
say(`starting the cascade in ${path.relative(ROOT, cascadeFile)} as local processes (no cluster)`);
const local = await startLocalCascade({ cascadeFile, log: say });
try {
  const stream = sessionStream({ streamSeed: 2026, activeSessions: 32, requestsPerSession: 60, withinSessionSpread: 0.1, drift: DRIFT });
  say(`driving ${TOTAL} requests from ${CONCURRENCY} clients: steady 0-${PHASE}, drift from ${DRIFT.onset} (suffix shifted by ${DRIFT.magnitude}), recovery from ${DRIFT.recovery}`);
  const started = Date.now();
  const records = await drive(local.router.url, stream, TOTAL, CONCURRENCY, (done) => say(`${done}/${TOTAL} requests`));
  const seconds = (Date.now() - started) / 1000;
  const status = (await (await fetch(`${local.router.url}/status?samples=1`)).json()) as {
    agent: { actions: { request: number; at: number; action: string; reason: string }[] };
    divergence_samples: { request: number; divergence: number; reuse: boolean }[];
    cache: Record<string, unknown>;
  };

  const ok = records.filter((r) => r.status === 200);
  const variants = Object.fromEntries(
    ROLES.map((role) => {
      const served = ok.filter((r) => r.variant === role);
      return [role, { share: round(served.length / Math.max(1, ok.length), 4), p50_ms: round(percentile(served.map((r) => r.latencyMs), 0.5)), p99_ms: round(percentile(served.map((r) => r.latencyMs), 0.99)), accuracy: round(served.filter((r) => r.prediction === r.label).length / Math.max(1, served.length), 4) }];
    }),
  );
  const phases = {
    steady: summarize(records.slice(0, PHASE)),
    drift: summarize(records.slice(PHASE, 2 * PHASE)),
    recovery: summarize(records.slice(2 * PHASE)),
  };
  // The router numbers requests as they arrive; with a few clients that is the stream order give or take the concurrency.
  const actions = status.agent.actions.map((a) => ({ request: a.request, action: a.action, reason: a.reason, at: new Date(a.at).toISOString() }));
  const firstDisable = actions.find((a) => a.action === 'disable' && a.request >= DRIFT.onset);
  const report = {
    generated_at: new Date().toISOString(),
    cascade: local.config.cascade,
    workload: 'sessions-32',
    requests: TOTAL,
    concurrency: CONCURRENCY,
    seconds: round(seconds, 1),
    requests_per_second: round(TOTAL / seconds, 1),
    lost_requests: records.filter((r) => r.status !== 200).length,
    variants,
    cache_hit_rate: summarize(records).cache_hit_rate,
    accuracy: summarize(records).accuracy,
    phases,
    drift_onset_request: DRIFT.onset,
    drift_recovery_request: DRIFT.recovery,
    detection_delay_requests: firstDisable ? firstDisable.request - DRIFT.onset : null,
    agent_actions: actions,
    divergence: {
      metric: local.config.cache.drift.metric,
      threshold: local.config.cache.drift.threshold,
      samples: status.divergence_samples.length,
      p50_p90_p99_by_phase: Object.fromEntries(
        [['steady', 0, PHASE], ['drift', PHASE, 2 * PHASE], ['recovery', 2 * PHASE, TOTAL]].map(([name, from, to]) => {
          const values = status.divergence_samples.filter((s) => s.request > (from as number) && s.request <= (to as number)).map((s) => s.divergence);
          return [name, [0.5, 0.9, 0.99].map((q) => round(percentile(values, q), 4))];
        }),
      ),
      mean_by_phase: {
        steady: round(mean(status.divergence_samples.filter((s) => s.request <= PHASE).map((s) => s.divergence)), 4),
        drift: round(mean(status.divergence_samples.filter((s) => s.request > PHASE && s.request <= 2 * PHASE).map((s) => s.divergence)), 4),
        recovery: round(mean(status.divergence_samples.filter((s) => s.request > 2 * PHASE).map((s) => s.divergence)), 4),
      },
    },
    router_cache: status.cache,
  };
  mkdirSync(path.join(ROOT, 'reports'), { recursive: true });
  writeFileSync(path.join(ROOT, 'reports', 'demo.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(ROOT, 'reports', 'demo.svg'), plot(records, status.divergence_samples, report.divergence.threshold, actions));

  console.log('');
  console.table(Object.fromEntries(ROLES.map((role) => [role, { share: `${(variants[role]!.share * 100).toFixed(1)}%`, 'p50 ms': variants[role]!.p50_ms, 'p99 ms': variants[role]!.p99_ms, accuracy: `${(variants[role]!.accuracy * 100).toFixed(1)}%` }])));
  console.table(Object.fromEntries(Object.entries(phases).map(([name, p]) => [name, { accuracy: `${(p.accuracy * 100).toFixed(1)}%`, 'cache hits': `${(p.cache_hit_rate * 100).toFixed(1)}%`, 'p50 ms': p.p50_ms, 'p99 ms': p.p99_ms, errors: p.errors }])));
  console.log(`divergence (${report.divergence.metric}, threshold ${report.divergence.threshold}): mean steady ${report.divergence.mean_by_phase.steady}, drift ${report.divergence.mean_by_phase.drift}, recovery ${report.divergence.mean_by_phase.recovery}`);
  console.log('agent actions (also in reports/demo.json):');
  for (const a of actions) console.log(`  request ${a.request}  ${a.action.padEnd(8)} ${a.reason}`);
  console.log(`\n${TOTAL} requests in ${seconds.toFixed(1)} s, ${report.lost_requests} lost; wrote reports/demo.json and reports/demo.svg`);
} finally {
  await local.stop();
}

function mean(values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

function plot(records: RequestRecord[], samples: { request: number; divergence: number }[], threshold: number, actions: { request: number; action: string }[]): string {
  const window = 100;
  const p50: [number, number][] = [];
  const p99: [number, number][] = [];
  const hits: [number, number][] = [];
  for (let start = 0; start + window <= records.length; start += window) {
    const slice = records.slice(start, start + window).filter((r) => r.status === 200);
    p50.push([start + window / 2, percentile(slice.map((r) => r.latencyMs), 0.5)]);
    p99.push([start + window / 2, percentile(slice.map((r) => r.latencyMs), 0.99)]);
    hits.push([start + window / 2, slice.filter((r) => r.cacheHit).length / Math.max(1, slice.length)]);
  }
  return renderChart({
    title: 'inference-cascade standalone demo: sessions-32, steady / drift / recovery',
    xLabel: 'request',
    markers: [
      { x: DRIFT.onset, label: 'drift onset', color: '#d62728' },
      { x: DRIFT.recovery, label: 'drift ends', color: '#2ca02c' },
      ...actions.map((a) => ({ x: a.request, label: `agent ${a.action}`, color: a.action === 'disable' ? '#9467bd' : '#8c564b' })),
    ],
    panels: [
      { title: 'client latency per 100 requests', yLabel: 'ms', series: [{ name: 'p50', color: '#1f77b4', points: p50 }, { name: 'p99', color: '#ff7f0e', points: p99 }] },
      { title: 'cache hit rate per 100 requests', yLabel: 'hit rate', yMax: 1, series: [{ name: 'hit rate', color: '#17becf', points: hits }] },
      { title: 'divergence of cached vs fresh embeddings (sampled)', yLabel: 'divergence', series: [{ name: 'sample', color: '#444', style: 'dots', points: samples.map((s) => [s.request, s.divergence] as [number, number]) }], hlines: [{ y: threshold, label: `threshold ${threshold}`, color: '#d62728' }] },
    ],
  });
}
