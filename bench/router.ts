// npm run bench:router [-- --seconds 4 --warmup 1 --rates 500,2000 --concurrency 32 --layout split]
// What the router costs, in one run, against the sample cascade (manifests/samples/cascade.yaml)
// started locally (four variant servers and the router as child processes):
//   1. added latency: open-loop traffic at fixed offered rates to the distilled variant directly,
//      through the router (static policy to distilled, cache off, so both paths do the same model
//      work) and, for reference, through a bare proxy; added = router percentile - direct one.
//   2. throughput vs a bare node:http piping proxy (bench/bare-proxy.ts, also a child process), 32
//      closed-loop keep-alive connections, both forwarding to the distilled variant; with the CPU
//      time per request of the router, the proxy and the variant.
//   3. HeuristicPolicy.decide time, in-process (bench/router-policy.ts).
//   4. cache hit vs miss latency at low load on a second router (static policy to full, cache on).
// Compared runs are interleaved (A B C C B A). Pinning (taskset), --layout together (the default):
// this load generator on core 0, every server on core 1, so every path crosses cores the same way.
// --layout split moves the variant servers to core 0 beside the generator, giving the router (and
// the bare proxy) a core of its own; the direct path then never leaves core 0, which flatters it.
// Writes reports/bench-router.json and reports/bench-router.svg.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { renderChart } from '../common/svg-plot.js';
import type { RouterConfig } from '../crds/router-config.js';
import { ROLES, type Role } from '../crds/types.js';
import { loadVariantProfiles } from '../router-sidecar/policy/variant-profile.js';
import { ROOT } from '../scripts/cluster/paths.js';
import { freePort, MODELS_ROOT, spawnNode, startLocalCascade, waitReady, type LocalCascade } from '../scripts/standalone/local-cascade.js';
import { metricValue } from '../test/support/operator.js';
import { sessionStream } from '../training/data/sessions32.js';
import { closedLoop, openLoop, percentile, positive, settleCpu, sorted, startCpuMeter, target, timedJson, type Target } from './router-load.js';
import { summarizeUs, timePolicy } from './router-policy.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1' },
    rates: { type: 'string', default: '500,2000' },
    concurrency: { type: 'string', default: '32' },
    layout: { type: 'string', default: 'together' },
    'cache-requests': { type: 'string', default: '600' },
  },
});
const say = (message: string): void => {
  process.stderr.write(`[bench:router] ${message}\n`);
};
const measuredMs = positive('seconds', values.seconds) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const rates = values.rates.split(',').map((r) => positive('rates', r));
const concurrency = positive('concurrency', values.concurrency);
const cachePairs = positive('cache-requests', values['cache-requests']);
if (values.layout !== 'split' && values.layout !== 'together') throw new Error(`--layout must be split or together, got "${values.layout}"`);
const layout = values.layout;

const TARGETS = { addedP99MsAt500: 1, throughputRatio: 0.6, policyDecisionUsP99: 50, cacheHitSpeedup: 5 };
const ROUTED_ROLE: Role = 'distilled';
const CACHE_ROLE: Role = 'full';
/** The sample cascade's sla.p99LatencyMs. */
const SLA_P99_MS = 40;
const round = (n: number, digits = 3): number => Number(n.toFixed(digits));
const pctText = (share: number): string => `${(share * 100).toFixed(1)}%`;

// ---- pinning ----
const tasksetOk = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned: Record<string, string> = {};
/** Every thread of `pid` onto `cores` (threads started later inherit it). */
function pin(name: string, pid: number, cores: string): void {
  if (tasksetOk && spawnSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' }).status === 0) pinned[name] = cores;
}

// ---- child processes beyond the local cascade ----
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** A second router on the same variants: static policy to `full`, cache on (the sample's settings). */
async function startCacheRouter(cascade: LocalCascade, workDir: string): Promise<{ url: string; child: ChildProcess }> {
  const config: RouterConfig = structuredClone(cascade.config);
  config.policy = { type: 'static', staticRole: CACHE_ROLE };
  config.cache.enabled = true;
  const configPath = path.join(workDir, 'router-cache.json');
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const port = await freePort();
  const args = ['--config', configPath, '--host', '127.0.0.1', '--port', String(port), '--models-root', MODELS_ROOT, '--watch-interval-ms', '0'];
  const child = spawnNode('router-sidecar/main.ts', args, path.join(workDir, 'router-cache.log'));
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`, child, 'cache router');
  return { url, child };
}

async function startBareProxy(upstream: string, workDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawnNode('bench/bare-proxy.ts', ['--target', upstream], path.join(workDir, 'bare-proxy.log'), 'pipe');
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`bare proxy exited with code ${code}`)))),
  ]);
  lines.close();
  const { port } = JSON.parse(first) as { port: number };
  return { url: `http://127.0.0.1:${port}`, child };
}

// ---- request bodies: sessions-32 rows, the same rows on every path ----
function featureRows(count: number, streamSeed: number): Float32Array[] {
  const stream = sessionStream({ streamSeed, activeSessions: 64, requestsPerSession: 8 });
  return Array.from({ length: count }, () => stream.next().value!.features);
}
/** What the router itself sends a variant for one row (router-sidecar/upstream.ts). */
const oipBody = (row: Float32Array): string =>
  JSON.stringify({
    inputs: [{ name: 'features', shape: [1, row.length], datatype: 'FP32', data: Array.from(row) }],
    outputs: [{ name: 'embedding' }, { name: 'probabilities' }],
  });
const predictBody = (row: Float32Array): string => JSON.stringify({ features: [Array.from(row)] });

// ---- the router's own view: did it forward to the routed variant, or fall back, and why? ----
interface RouterCounters {
  served: number;
  servedByRouted: number;
  notServed: number;
  /** Refused at the door by the overload guard (429). */
  refusedOverloaded: number;
  attempts: Map<string, number>;
  /** Requests the routed variant itself took more than 10 ms to answer (its own histogram). */
  variantOver10ms: number;
  /** Largest event-loop delay since the previous scrape (prom-client resets it on each scrape). */
  routerLoopLagMaxMs: number;
  variantLoopLagMaxMs: number;
}

async function routerCounters(routerUrl: string, variantUrl: string): Promise<RouterCounters> {
  const text = await (await fetch(`${routerUrl}/metrics`)).text();
  const variantText = await (await fetch(`${variantUrl}/metrics`)).text();
  const requests = 'inference_cascade_router_requests_total';
  const attempts = new Map<string, number>();
  for (const match of text.matchAll(/^inference_cascade_router_upstream_attempts_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    attempts.set(`${labels.variant}/${labels.result}`, Number(match[2]));
  }
  const histogram = 'inference_cascade_variant_request_duration_seconds';
  return {
    served: metricValue(text, requests, { code: '200' }),
    servedByRouted: metricValue(text, requests, { variant: ROUTED_ROLE, code: '200' }),
    notServed: metricValue(text, requests, { variant: 'none' }),
    refusedOverloaded: metricValue(text, 'inference_cascade_router_overload_shed_total'),
    attempts,
    variantOver10ms: metricValue(variantText, `${histogram}_count`, { endpoint: 'infer' }) - metricValue(variantText, `${histogram}_bucket`, { endpoint: 'infer', le: '0.01' }),
    routerLoopLagMaxMs: metricValue(text, 'inference_cascade_router_nodejs_eventloop_lag_max_seconds') * 1000,
    variantLoopLagMaxMs: metricValue(variantText, 'inference_cascade_variant_nodejs_eventloop_lag_max_seconds') * 1000,
  };
}

function counterDelta(after: RouterCounters, before: RouterCounters) {
  const attempts: Record<string, number> = {};
  for (const [key, value] of after.attempts) {
    const delta = value - (before.attempts.get(key) ?? 0);
    if (delta > 0) attempts[key] = delta;
  }
  const timeouts = Object.entries(attempts).reduce((sum, [key, n]) => sum + (key.endsWith('/timeout') ? n : 0), 0);
  return {
    served_by_other_variant: after.served - after.servedByRouted - (before.served - before.servedByRouted),
    not_served: after.notServed - before.notServed,
    refused_overloaded: after.refusedOverloaded - before.refusedOverloaded,
    upstream_timeouts: timeouts,
    variant_requests_over_10ms: after.variantOver10ms - before.variantOver10ms,
    event_loop_delay_max_ms: { router: round(after.routerLoopLagMaxMs, 1), variant: round(after.variantLoopLagMaxMs, 1) },
    attempts,
  };
}

/** Waits (sending probes) until the routed variant's breaker is closed, so a run starts clean. */
async function settleRouter(url: string, probe: Target): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    const status = (await (await fetch(`${url}/status`)).json()) as { breakers: Record<Role, string> };
    if (status.breakers[ROUTED_ROLE] === 'closed') return true;
    await timedJson(probe, probe.bodies[0]!).catch(() => undefined);
    await sleep(150);
  }
  return false;
}

// ---- 1. added latency, open loop ----
interface LatencyRun {
  path: string;
  rate: number;
  order: number;
  scheduled: number;
  completed: number;
  failed: number;
  late: number;
  late_ms_p99: number;
  achieved_rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Answered (200) within the sample cascade's 40 ms p99 budget: the answers a client could use. */
  within_sla: number;
  forwarder_cpu_us_per_request: number | null;
  variant_cpu_us_per_request: number;
  client_cpu_us_per_request: number;
  router?: ReturnType<typeof counterDelta>;
  latencies: Float64Array;
}

interface Path {
  t: Target;
  forwarderPid?: number;
  routerUrl?: string;
}

/** The variant every compared path ends at, and the processes that forward to it. */
interface Variant {
  pid: number;
  url: string;
  forwarders: number[];
}

async function latencyRun(p: Path, rate: number, order: number, variant: Variant): Promise<LatencyRun> {
  const { pid: variantPid, url: variantUrl } = variant;
  await settleCpu([variantPid, ...variant.forwarders]);
  if (p.routerUrl) await settleRouter(p.routerUrl, p.t);
  if (warmupMs > 0) await openLoop(p.t, { rate, durationMs: warmupMs });
  const counters = p.routerUrl ? await routerCounters(p.routerUrl, variantUrl) : undefined;
  const cpu = startCpuMeter(variantPid, p.forwarderPid);
  const result = await openLoop(p.t, { rate, durationMs: measuredMs });
  const served = Math.max(1, result.completed + result.failed - result.unanswered);
  const { variant: variantCpu, forwarder: forwarderCpu, client: clientCpu } = cpu();
  const latencies = sorted(result.latenciesMs);
  return {
    path: p.t.name,
    rate,
    order,
    scheduled: result.scheduled,
    completed: result.completed,
    failed: result.failed,
    late: result.late,
    late_ms_p99: round(result.lateMsP99),
    achieved_rps: round(result.completed / (measuredMs / 1000), 1),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(latencies[latencies.length - 1] ?? NaN),
    within_sla: result.latenciesMs.filter((ms) => ms <= SLA_P99_MS).length,
    forwarder_cpu_us_per_request: forwarderCpu === undefined ? null : round(forwarderCpu / served, 1),
    variant_cpu_us_per_request: round(variantCpu / served, 1),
    client_cpu_us_per_request: round(clientCpu / served, 1),
    ...(counters && p.routerUrl ? { router: counterDelta(await routerCounters(p.routerUrl, variantUrl), counters) } : {}),
    latencies,
  };
}

/** Summed router-side counters of some runs; undefined for paths without a router. */
function routerTotals(runs: { router?: ReturnType<typeof counterDelta> }[]) {
  const deltas = runs.flatMap((r) => (r.router ? [r.router] : []));
  if (deltas.length === 0) return undefined;
  const sum = (key: 'served_by_other_variant' | 'not_served' | 'refused_overloaded' | 'upstream_timeouts' | 'variant_requests_over_10ms') => deltas.reduce((s, d) => s + d[key], 0);
  return {
    served_by_other_variant: sum('served_by_other_variant'),
    not_served: sum('not_served'),
    refused_overloaded: sum('refused_overloaded'),
    upstream_timeouts: sum('upstream_timeouts'),
    variant_requests_over_10ms: sum('variant_requests_over_10ms'),
  };
}

function latencySummary(runs: LatencyRun[]) {
  const all = sorted(runs.flatMap((r) => Array.from(r.latencies)));
  const weighted = (key: 'forwarder_cpu_us_per_request' | 'variant_cpu_us_per_request') => {
    const n = runs.reduce((s, r) => s + r.completed, 0);
    return runs[0]?.[key] === null ? null : round(runs.reduce((s, r) => s + (r[key] ?? 0) * r.completed, 0) / Math.max(1, n), 1);
  };
  return {
    p50: round(percentile(all, 50)),
    p99: round(percentile(all, 99)),
    samples: all.length,
    forwarder_cpu_us_per_request: weighted('forwarder_cpu_us_per_request'),
    variant_cpu_us_per_request: weighted('variant_cpu_us_per_request'),
    late_sends: runs.reduce((s, r) => s + r.late, 0),
    failed: runs.reduce((s, r) => s + r.failed, 0),
    within_sla_share: round(runs.reduce((s, r) => s + r.within_sla, 0) / Math.max(1, runs.reduce((s, r) => s + r.scheduled, 0))),
    ...(routerTotals(runs) ? { router_side: routerTotals(runs) } : {}),
    all,
  };
}

// ---- 2. throughput, closed loop ----
interface ThroughputRun {
  path: string;
  order: number;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  forwarder_cpu_us: number;
  variant_cpu_us: number;
  client_cpu_us: number;
  router?: ReturnType<typeof counterDelta>;
}

async function throughputRun(p: Path, order: number, variant: Variant): Promise<ThroughputRun> {
  const { pid: variantPid, url: variantUrl } = variant;
  await settleCpu([variantPid, ...variant.forwarders]);
  if (p.routerUrl) await settleRouter(p.routerUrl, p.t);
  if (warmupMs > 0) await closedLoop(p.t, concurrency, warmupMs);
  const counters = p.routerUrl ? await routerCounters(p.routerUrl, variantUrl) : undefined;
  const cpu = startCpuMeter(variantPid, p.forwarderPid);
  const result = await closedLoop(p.t, concurrency, measuredMs);
  const measured = cpu();
  const { variant: variantCpu, client: clientCpu } = measured;
  const forwarderCpu = measured.forwarder ?? 0;
  const latencies = sorted(result.latenciesMs);
  return {
    path: p.t.name,
    order,
    requests: result.requests,
    errors: result.errors,
    seconds: round(result.seconds, 2),
    rps: round(result.requests / result.seconds, 1),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    forwarder_cpu_us: forwarderCpu,
    variant_cpu_us: variantCpu,
    client_cpu_us: clientCpu,
    ...(counters && p.routerUrl ? { router: counterDelta(await routerCounters(p.routerUrl, variantUrl), counters) } : {}),
  };
}

function throughputSummary(runs: ThroughputRun[]) {
  const requests = runs.reduce((s, r) => s + r.requests, 0);
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  const perRequest = (key: 'forwarder_cpu_us' | 'variant_cpu_us' | 'client_cpu_us') => round(runs.reduce((s, r) => s + r[key], 0) / Math.max(1, requests), 1);
  return {
    rps: round(requests / seconds, 1),
    requests,
    errors: runs.reduce((s, r) => s + r.errors, 0),
    forwarder_cpu_us_per_request: perRequest('forwarder_cpu_us'),
    variant_cpu_us_per_request: perRequest('variant_cpu_us'),
    client_cpu_us_per_request: perRequest('client_cpu_us'),
    rps_per_run: runs.map((r) => r.rps),
    ...(routerTotals(runs) ? { router_side: routerTotals(runs) } : {}),
  };
}

// ---- 4. cache hit vs miss ----
interface PredictAnswer {
  variant: string;
  cache_hit: boolean;
  latency_ms: number;
}

async function cacheRun(t: Target, pairs: number) {
  const unique = sessionStream({ streamSeed: 101, activeSessions: 1, requestsPerSession: 1 });
  // Repeated lookups: each session repeats one row, so a sampled hit diverges by 0 and the drift
  // agent keeps reuse on; a hit's cost does not depend on the suffix anyway (key = prefix).
  const repeated = sessionStream({ streamSeed: 202, activeSessions: 32, requestsPerSession: 1e9, withinSessionSpread: 0 });
  const next = (stream: typeof unique) => predictBody(stream.next().value!.features);
  for (let i = 0; i < 200; i++) await timedJson(t, next(unique)); // warm-up, not measured
  for (let i = 0; i < 96; i++) await timedJson(t, next(repeated)); // stores every session's prefix
  const miss = { client: [] as number[], router: [] as number[] };
  const hit = { client: [] as number[], router: [] as number[] };
  let sampled = 0;
  let unexpected = 0;
  let failed = 0;
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? (['unique', 'repeated'] as const) : (['repeated', 'unique'] as const);
    for (const kind of order) {
      const { ms, answer } = await timedJson<PredictAnswer>(t, next(kind === 'unique' ? unique : repeated));
      if (!answer || answer.variant !== CACHE_ROLE) failed += 1;
      else if (kind === 'unique' && !answer.cache_hit) {
        miss.client.push(ms);
        miss.router.push(answer.latency_ms);
      } else if (kind === 'repeated' && answer.cache_hit) {
        hit.client.push(ms);
        hit.router.push(answer.latency_ms);
      } else if (kind === 'repeated') sampled += 1;
      else unexpected += 1;
    }
  }
  return { miss, hit, sampled, unexpected, failed };
}

const stats = (values: number[]) => {
  const s = sorted(values);
  return { p50: round(percentile(s, 50)), p90: round(percentile(s, 90)), p99: round(percentile(s, 99)), samples: s.length };
};

// ---- SVG ----
/** Stacks complete SVG documents vertically in one. */
function stackCharts(charts: string[]): string {
  let y = 0;
  let width = 0;
  const parts = charts.map((chart) => {
    const w = Number(/width="(\d+)"/.exec(chart)?.[1] ?? 960);
    const h = Number(/height="(\d+)"/.exec(chart)?.[1] ?? 300);
    const placed = chart.replace('<svg ', `<svg y="${y}" `);
    y += h;
    width = Math.max(width, w);
    return placed;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">\n${parts.join('\n')}\n</svg>\n`;
}

const byPercentile = (values: Float64Array, from = 1, to = 99): [number, number][] =>
  Array.from({ length: to - from + 1 }, (_, i) => [from + i, percentile(values, from + i)]);

const COLORS = { router: '#d62728', bare_proxy: '#ff7f0e', direct: '#1f77b4', added: '#2ca02c' };

interface LatencyAtRate {
  rate: number;
  p50: number;
  p99: number;
  distributions: { router: Float64Array; direct: Float64Array; bare_proxy: Float64Array };
}

function charts(
  latency: LatencyAtRate[],
  throughputRuns: ThroughputRun[],
  ratio: number,
  cache: { miss: Float64Array; hit: Float64Array; speedup: number },
  policy: { decide: Float64Array; step: Float64Array },
): string {
  const latencyChart = renderChart({
    title: `Open-loop latency to the ${ROUTED_ROLE} variant by percentile: direct, through a bare proxy, through the router`,
    xLabel: 'percentile',
    panelHeight: 170,
    panels: latency.map((a) => {
      const { router, direct, bare_proxy: proxy } = a.distributions;
      // A router meltdown (seconds) would flatten the others: clip at 4x the bare proxy's p99.
      const top = Math.max(percentile(router, 99), percentile(proxy, 99), percentile(direct, 99));
      const cap = Math.max(5, 4 * percentile(proxy, 99));
      return {
        title: `${a.rate}/s offered: added p50 ${a.p50} ms, p99 ${a.p99} ms${top > cap ? ` (clipped at ${round(cap, 1)} ms; router p99 ${round(percentile(router, 99), 1)} ms)` : ''}`,
        yLabel: 'ms',
        ...(top > cap ? { yMax: cap } : {}),
        series: [
          { name: 'router', color: COLORS.router, points: byPercentile(router) },
          { name: 'bare proxy', color: COLORS.bare_proxy, points: byPercentile(proxy) },
          { name: 'direct', color: COLORS.direct, points: byPercentile(direct) },
        ],
      };
    }),
  });
  const perRun = (key: (r: ThroughputRun) => number, paths: readonly ('router' | 'bare_proxy' | 'direct')[] = ['router', 'bare_proxy', 'direct']) =>
    paths.map((p) => ({
      name: p,
      color: COLORS[p],
      style: 'dots' as const,
      points: throughputRuns.flatMap((r) => (r.path === p ? [[r.order + 1, key(r)] as [number, number]] : [])),
    }));
  const throughputChart = renderChart({
    title: `${concurrency} closed-loop connections, runs in order (router / bare proxy = ${ratio})`,
    xLabel: 'run',
    panelHeight: 150,
    panels: [
      // Headroom above the highest dot keeps it clear of the legend.
      { title: 'requests/s', yLabel: 'rps', yMax: 1.4 * Math.max(...throughputRuns.map((r) => r.rps)), series: perRun((r) => r.rps) },
      {
        title: 'CPU us per request of the forwarding process',
        yLabel: 'us',
        yMax: 1.4 * Math.max(...throughputRuns.map((r) => r.forwarder_cpu_us / r.requests)),
        series: perRun((r) => r.forwarder_cpu_us / r.requests, ['router', 'bare_proxy']),
      },
    ],
  });
  const distributionChart = renderChart({
    title: 'Distributions by percentile',
    xLabel: 'percentile',
    panelHeight: 150,
    panels: [
      {
        title: `cache miss vs hit, client latency (ms), ${CACHE_ROLE} variant; p50 speedup ${cache.speedup}x`,
        yLabel: 'ms',
        series: [
          { name: 'miss', color: COLORS.router, points: byPercentile(cache.miss) },
          { name: 'hit', color: COLORS.added, points: byPercentile(cache.hit) },
        ],
      },
      {
        title: 'policy decision, us per call (batch means)',
        yLabel: 'us',
        series: [
          { name: 'decide', color: '#9467bd', points: byPercentile(policy.decide) },
          { name: 'snapshot + decide', color: '#8c564b', points: byPercentile(policy.step) },
        ],
        hlines: [{ y: TARGETS.policyDecisionUsP99, label: 'p99 target', color: '#9467bd' }],
      },
    ],
  });
  return stackCharts([latencyChart, throughputChart, distributionChart]);
}

// ---- main ----
pin('load_generator', process.pid, '0');
if (!tasksetOk) say('taskset is missing or there is only one CPU: nothing is pinned');
const loadAtStart = os.loadavg().map((l) => round(l, 2));
say(`layout ${layout}; ${measuredMs / 1000} s per measured run after ${warmupMs / 1000} s warm-up; rates ${rates.join(', ')}/s; ${concurrency} connections; load average ${loadAtStart.join(' ')}`);

say('3/4 policy decision time (in-process, before any server starts)');
const cascadeFile = path.join(ROOT, 'manifests', 'samples', 'cascade.yaml');
const policyTimings = await timePolicy({
  profiles: await loadVariantProfiles(path.join(MODELS_ROOT, 'sessions-32')),
  sla: { p99LatencyMs: 40, minAccuracy: 0.9 },
  distilled: { role: 'distilled', name: 'distilled', endpoint: 'http://127.0.0.1:1', modelVersion: '1', modelUri: 'file:///models/sessions-32/distilled' },
  modelsRoot: MODELS_ROOT,
});
const decide = summarizeUs(policyTimings.decideUs);
const step = summarizeUs(policyTimings.stepUs);
const difficulty = summarizeUs(policyTimings.difficultyUs);
say(`decide p50 ${decide.p50} us, p99 ${decide.p99} us; snapshot+allowed+decide p99 ${step.p99} us; difficulty estimate p50 ${difficulty.p50} us, p99 ${difficulty.p99} us`);

say(`starting the sample cascade: 4 variant servers + router (static -> ${ROUTED_ROLE}, cache off)`);
const cascade = await startLocalCascade({
  cascadeFile,
  adjust: (config) => {
    config.policy = { type: 'static', staticRole: ROUTED_ROLE };
    config.cache.enabled = false;
  },
  log: say,
});
const workDir = path.dirname(cascade.configPath);
const children: ChildProcess[] = [];
const pools: Target[] = [];
let output: { report: Record<string, unknown>; svg: string; summary: string[] };
try {
  const cacheRouter = await startCacheRouter(cascade, workDir);
  children.push(cacheRouter.child);
  const variant = cascade.variants[ROUTED_ROLE];
  const proxy = await startBareProxy(variant.url, workDir);
  children.push(proxy.child);
  pin('router', cascade.router.child.pid!, '1');
  pin('cache_router', cacheRouter.child.pid!, '1');
  pin('bare_proxy', proxy.child.pid!, '1');
  for (const role of ROLES) pin(`variant_${role}`, cascade.variants[role].child.pid!, layout === 'split' ? '0' : '1');
  say(`router ${cascade.router.url}, cache router ${cacheRouter.url}, bare proxy ${proxy.url} -> ${variant.url}; pinned ${JSON.stringify(pinned)}`);

  const variantName = cascade.config.variants.find((v) => v.role === ROUTED_ROLE)!.name;
  const inferPath = `/v2/models/${encodeURIComponent(variantName)}/infer`;
  const rows = featureRows(512, 42);
  const oipBodies = rows.map(oipBody);
  const direct: Path = { t: target('direct', variant.url, inferPath, oipBodies) };
  const viaRouter: Path = { t: target('router', cascade.router.url, '/predict', rows.map(predictBody)), forwarderPid: cascade.router.child.pid!, routerUrl: cascade.router.url };
  const viaProxy: Path = { t: target('bare_proxy', proxy.url, inferPath, oipBodies), forwarderPid: proxy.child.pid! };
  const cacheTarget = target('cache_router', cacheRouter.url, '/predict', [], 1);
  pools.push(direct.t, viaRouter.t, viaProxy.t, cacheTarget);
  const upstream: Variant = { pid: variant.child.pid!, url: variant.url, forwarders: [viaRouter.forwarderPid!, viaProxy.forwarderPid!] };

  // A cold router (JIT, first onnxruntime runs) is several times slower for its first thousands of requests.
  // Every variant too: the router falls back to the others when a breaker opens, and a cold one
  // answers its first requests slowly enough to time out and open its own breaker as well.
  say('warming up every variant, the router and the bare proxy (closed loop, 8 connections)');
  for (const role of ROLES) {
    const name = cascade.config.variants.find((v) => v.role === role)!.name;
    const warm = target(`warm-${role}`, cascade.variants[role].url, `/v2/models/${encodeURIComponent(name)}/infer`, oipBodies, 8);
    await closedLoop(warm, 8, 1000);
    await warm.pool.close();
  }
  for (const p of [viaRouter, viaProxy, viaRouter]) await closedLoop(p.t, 8, 1500);

  // 1. added latency
  const latencyRuns: LatencyRun[] = [];
  const order = [direct, viaRouter, viaProxy, viaProxy, viaRouter, direct];
  for (const rate of rates) {
    for (const [i, p] of order.entries()) {
      const run = await latencyRun(p, rate, i, upstream);
      latencyRuns.push(run);
      say(
        `1/4 ${rate}/s ${p.t.name.padEnd(10)} run ${i + 1}/${order.length}: p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms, ${run.completed}/${run.scheduled} ok (${run.within_sla} within ${SLA_P99_MS} ms), ${run.late} late, ${run.failed} failed${run.router?.refused_overloaded ? ` (${run.router.refused_overloaded} refused as overloaded)` : ''}` +
          `${run.forwarder_cpu_us_per_request !== null ? `, forwarder CPU ${run.forwarder_cpu_us_per_request} us/req` : ''}, variant CPU ${run.variant_cpu_us_per_request} us/req` +
          `${run.router && (run.router.served_by_other_variant || run.router.upstream_timeouts) ? `; router: ${run.router.upstream_timeouts} upstream timeouts (variant itself > 10 ms: ${run.router.variant_requests_over_10ms}), ${run.router.served_by_other_variant} served by a fallback variant` : ''}`,
      );
    }
  }
  const latency = rates.map((rate) => {
    const at = (name: string) => latencySummary(latencyRuns.filter((r) => r.rate === rate && r.path === name));
    const { all: viaR, ...router } = at('router');
    const { all: viaD, ...directSummary } = at('direct');
    const { all: viaP, ...proxySummary } = at('bare_proxy');
    // Runs in which the router sent every request to the routed variant: the like-for-like figure.
    const cleanRuns = latencyRuns.filter((r) => r.rate === rate && r.path === 'router' && r.failed === 0 && r.router?.served_by_other_variant === 0);
    const clean = sorted(cleanRuns.flatMap((r) => Array.from(r.latencies)));
    return {
      rate,
      p50: round(router.p50 - directSummary.p50),
      p99: round(router.p99 - directSummary.p99),
      bare_proxy_added: { p50: round(proxySummary.p50 - directSummary.p50), p99: round(proxySummary.p99 - directSummary.p99) },
      added_in_clean_router_runs:
        cleanRuns.length === 0
          ? null
          : { runs: cleanRuns.length, p50: round(percentile(clean, 50) - directSummary.p50), p99: round(percentile(clean, 99) - directSummary.p99) },
      router,
      direct: directSummary,
      bare_proxy: proxySummary,
      distributions: { router: viaR, direct: viaD, bare_proxy: viaP },
    };
  });

  // 2. throughput
  const throughputRuns: ThroughputRun[] = [];
  const tOrder = [viaRouter, viaProxy, direct, direct, viaProxy, viaRouter];
  for (const [i, p] of tOrder.entries()) {
    const run = await throughputRun(p, i, upstream);
    throughputRuns.push(run);
    say(
      `2/4 ${concurrency} connections ${p.t.name.padEnd(10)} run ${i + 1}/${tOrder.length}: ${run.rps} rps, p99 ${run.p99_ms} ms` +
        `${p.forwarderPid ? `, forwarder CPU ${round(run.forwarder_cpu_us / run.requests, 1)} us/req` : ''}, variant CPU ${round(run.variant_cpu_us / run.requests, 1)} us/req, client CPU ${round(run.client_cpu_us / run.requests, 1)} us/req` +
        `${run.errors ? `, ${run.errors} ERRORS` : ''}${run.router?.served_by_other_variant ? `; router: ${run.router.upstream_timeouts} upstream timeouts (variant itself > 10 ms: ${run.router.variant_requests_over_10ms}), ${run.router.served_by_other_variant} served by a fallback variant` : ''}`,
    );
  }
  const throughput = {
    router: throughputSummary(throughputRuns.filter((r) => r.path === 'router')),
    bare_proxy: throughputSummary(throughputRuns.filter((r) => r.path === 'bare_proxy')),
    direct: throughputSummary(throughputRuns.filter((r) => r.path === 'direct')),
  };
  const ratio = round(throughput.router.rps / throughput.bare_proxy.rps);

  // 4. cache hit vs miss
  say(`4/4 cache hit vs miss: ${cachePairs} unique-prefix and ${cachePairs} repeated-prefix requests, one at a time, interleaved`);
  const cache = await cacheRun(cacheTarget, cachePairs);
  const cacheStatus = (await (await fetch(`${cacheRouter.url}/status`)).json()) as { cache: unknown; agent: unknown; breakers: unknown };
  const miss = { client: stats(cache.miss.client), router: stats(cache.miss.router) };
  const hit = { client: stats(cache.hit.client), router: stats(cache.hit.router) };
  const speedup = round(miss.client.p50 / hit.client.p50, 2);
  say(`cache miss p50 ${miss.client.p50} ms (router-internal ${miss.router.p50}), hit p50 ${hit.client.p50} ms (router-internal ${hit.router.p50}); ${cache.sampled} sampled hits recomputed`);

  const at500 = latency.find((a) => a.rate === 500);
  const targets = {
    added_p99_ms_at_500rps: { target: `< ${TARGETS.addedP99MsAt500}`, value: at500?.p99 ?? null, met: at500 !== undefined && at500.p99 < TARGETS.addedP99MsAt500 },
    throughput_ratio_vs_bare_proxy: { target: `>= ${TARGETS.throughputRatio}`, value: ratio, met: ratio >= TARGETS.throughputRatio },
    policy_decision_us_p99: { target: `< ${TARGETS.policyDecisionUsP99}`, value: decide.p99, met: decide.p99 < TARGETS.policyDecisionUsP99 },
    cache_hit_speedup: { target: `>= ${TARGETS.cacheHitSpeedup}`, value: speedup, met: speedup >= TARGETS.cacheHitSpeedup },
  };
  const report = {
    added_latency_ms: latency.map(({ rate, p50, p99, router, direct }) => ({
      rate,
      p50,
      p99,
      late_sends: router.late_sends + direct.late_sends,
      failed: router.failed + direct.failed,
    })),
    throughput_ratio_vs_bare_proxy: ratio,
    cpu_us_per_request: { router: throughput.router.forwarder_cpu_us_per_request, bare_proxy: throughput.bare_proxy.forwarder_cpu_us_per_request },
    policy_decision_us_p99: decide.p99,
    cache_hit_speedup: speedup,
    targets,
    latency: {
      what: `open loop at each offered rate to the ${ROUTED_ROLE} variant: directly, through the router (static -> ${ROUTED_ROLE}, cache off) and through the bare proxy; dispatch to last byte; percentiles over the pooled runs of each path; added = router - direct. Runs where the router's breakers opened and it served requests from fallback variants are included; added_in_clean_router_runs leaves them out. On a shared 2-core machine the direct p99 alone moves by milliseconds between runs: compare runs[] before trusting a p99 difference`,
      rates: latency.map(({ distributions: _distributions, ...rest }) => rest),
      runs: latencyRuns.map(({ latencies: _latencies, ...rest }) => rest),
    },
    throughput: {
      what: `${concurrency} closed-loop keep-alive connections (undici), JSON bodies, ${ROUTED_ROLE} variant; router POST /predict, bare proxy and direct POST ${inferPath}`,
      ...throughput,
      cpu_ratio_bare_proxy_vs_router: round(throughput.bare_proxy.forwarder_cpu_us_per_request / throughput.router.forwarder_cpu_us_per_request, 3),
      runs: throughputRuns,
    },
    policy_decision: {
      what: `HeuristicPolicy.decide in-process over ${policyTimings.inputs} inputs (distilled-margin difficulty of sessions-32 rows, simulated load, 20% with SLA hints, 5% with a breaker open); each sample is the mean of a batch of ${policyTimings.batchSize} calls`,
      decide_us: decide,
      router_step_us: { ...step, what: 'LoadTracker.snapshot() + allowedRoles(breakers) + decide, as Router.routeOn does per request' },
      difficulty_estimate_us: { ...difficulty, what: 'distilled encoder + head in onnxruntime on one row, one call at a time; the router runs it on every request, whatever the policy' },
      routes_chosen: policyTimings.routesChosen,
    },
    cache: {
      what: `second router, static -> ${CACHE_ROLE}, cache on (sample settings); unique prefixes (misses: ${CACHE_ROLE} encoder + head on the variant) vs repeated prefixes (hits: ${CACHE_ROLE}'s head run locally on the cached embedding); one request at a time, alternating`,
      miss,
      hit,
      speedup_client_p50: speedup,
      speedup_router_internal_p50: round(miss.router.p50 / hit.router.p50, 2),
      sampled_hits_recomputed: cache.sampled,
      hits_on_unique_prefixes: cache.unexpected,
      failed: cache.failed,
      router_status: cacheStatus,
    },
    setup: {
      cascade: path.relative(ROOT, cascadeFile),
      layout,
      pinning: tasksetOk ? pinned : 'none (taskset missing or a single CPU)',
      seconds_per_run: measuredMs / 1000,
      warmup_seconds: warmupMs / 1000,
      order: 'interleaved per rate: direct, router, bare proxy, bare proxy, router, direct; throughput: router, proxy, direct, direct, proxy, router',
      open_loop: 'send i at start + i/rate on timers (ms granularity: at 2,000/s sends go out in pairs); late = dispatched > 2 ms after its slot; failed = non-200, error, or unanswered 10 s after the last send',
      cpu: 'scheduler run time summed over the process threads (/proc/<pid>/task/*/schedstat) over the measured seconds / requests',
      bodies: 'sessions-32 rows; direct and bare proxy get the OIP body the router itself sends upstream (outputs embedding + probabilities), the router gets {"features": [[...]]}',
    },
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model,
      node: process.version,
      load_average_at_start: loadAtStart,
      load_average_at_end: os.loadavg().map((l) => round(l, 2)),
    },
  };
  const svg = charts(latency, throughputRuns, ratio, { miss: sorted(cache.miss.client), hit: sorted(cache.hit.client), speedup }, { decide: policyTimings.decideUs, step: policyTimings.stepUs });
  const routerRunsPerRate = order.filter((p) => p === viaRouter).length;
  const summary = [
    'bench:router summary',
    ...latency.map((a) => {
      const clean = a.added_in_clean_router_runs;
      return (
        `  open loop ${a.rate}/s: added p50 ${a.p50} ms, p99 ${a.p99} ms (router ${a.router.p50} / ${a.router.p99}, direct ${a.direct.p50} / ${a.direct.p99}); ` +
        `${clean ? `in the ${clean.runs} of ${routerRunsPerRate} router runs without fallbacks added p99 ${clean.p99} ms` : 'every router run had fallbacks'}; bare proxy added p99 ${a.bare_proxy_added.p99} ms; ` +
        `router CPU ${a.router.forwarder_cpu_us_per_request} us/req; late sends ${a.router.late_sends + a.direct.late_sends}, failed ${a.router.failed + a.direct.failed}, router fallbacks ${a.router.router_side?.served_by_other_variant ?? 0}, refused as overloaded ${a.router.router_side?.refused_overloaded ?? 0}; ` +
        `answered within ${SLA_P99_MS} ms: router ${pctText(a.router.within_sla_share)}, bare proxy ${pctText(a.bare_proxy.within_sla_share)}, direct ${pctText(a.direct.within_sla_share)}`
      );
    }),
    ...(['router', 'bare_proxy', 'direct'] as const).map(
      (p) =>
        `  ${concurrency} connections, ${p}: ${throughput[p].rps} rps` +
        `${p === 'direct' ? '' : `, ${p} CPU ${throughput[p].forwarder_cpu_us_per_request} us/req`}, variant CPU ${throughput[p].variant_cpu_us_per_request} us/req` +
        `${throughput[p].router_side ? `, router fallbacks ${throughput[p].router_side.served_by_other_variant}` : ''}`,
    ),
    `  cache (${CACHE_ROLE}): miss p50 ${miss.client.p50} ms, hit p50 ${hit.client.p50} ms (router-internal ${miss.router.p50} / ${hit.router.p50} ms)`,
    `  policy: decide p50 ${decide.p50} us, p99 ${decide.p99} us; difficulty estimate p50 ${difficulty.p50} us`,
    '  targets:',
    ...Object.entries(targets).map(([name, t]) => `    ${name.padEnd(32)} ${String(t.value).padStart(8)}  ${t.target.padEnd(7)} ${t.met ? 'met' : 'NOT met'}`),
    '  wrote reports/bench-router.json and reports/bench-router.svg',
  ];
  output = { report, svg, summary };
} finally {
  for (const t of pools) await t.pool.close().catch(() => undefined);
  for (const child of children) await stopChild(child);
  await cascade.stop();
}

mkdirSync(path.join(ROOT, 'reports'), { recursive: true });
writeFileSync(path.join(ROOT, 'reports', 'bench-router.json'), `${JSON.stringify(output.report, null, 2)}\n`);
writeFileSync(path.join(ROOT, 'reports', 'bench-router.svg'), output.svg);
process.stdout.write(`${output.summary.join('\n')}\n`);
