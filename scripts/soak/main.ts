// npm run test:soak: the demo cascade (manifests/samples/cascade.yaml) as local processes under
// open-loop traffic for SOAK_MINUTES (default 30) at SOAK_RPS (default 200), with one variant
// SIGKILLed and restarted every SOAK_FAULT_EVERY_S (default 60) seconds, in turn, and one drift
// episode. Writes reports/soak.json and reports/soak.svg; exits 1 when a request was lost, the
// router's RSS (after a forced GC at 15% of the run and at its end) grew by 10% or more, or the
// p99 outside the fault windows missed the SLA.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../common/random.js';
import { nearestRank } from '../../common/stats.js';
import { renderChart } from '../../common/svg-plot.js';
import { ROLES } from '../../crds/types.js';
import { sessionStream, type SessionRequest } from '../../training/data/sessions32.js';
import { ROOT } from '../cluster/paths.js';
import { inspectorUrl, memoryAfterGc } from '../standalone/inspector.js';
import { startLocalCascade } from '../standalone/local-cascade.js';
import { runOpenLoop } from './open-loop.js';
import { summarizeSoak, type FaultWindow, type RssSample, type SoakRecord } from './summary.js';

function positive(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${text}"`);
  return value;
}

const MINUTES = positive('SOAK_MINUTES', 30);
const RPS = positive('SOAK_RPS', 200);
const FAULT_EVERY_MS = positive('SOAK_FAULT_EVERY_S', 60) * 1000;
/** After a restarted variant is ready: the breaker's cool-down (2 s), a probe, and fresh latency estimates. */
const SETTLE_MS = 5000;
const WARMUP_MS = 15_000;
const DURATION_MS = MINUTES * 60_000;
const say = (message: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}`);

function routerRss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

// The inspector lets the run force a garbage collection before reading the router's RSS, so that
// growth means memory held, not garbage V8 has not yet collected.
const local = await startLocalCascade({ cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'), log: say, nodeFlags: ['--inspect=127.0.0.1:0'] });
const routerInspector = inspectorUrl(path.join(path.dirname(local.configPath), 'router.log'));
const slaP99Ms = local.config.sla.p99LatencyMs;
// One drift episode, from 40% to 55% of the run (request indices at the offered rate).
const drift = { onset: Math.round(0.4 * DURATION_MS / 1000 * RPS), rampRequests: 50, magnitude: 4, recovery: Math.round(0.55 * DURATION_MS / 1000 * RPS) };
const stream = sessionStream({ streamSeed: 2027, activeSessions: 32, requestsPerSession: 60, withinSessionSpread: 0.1, drift });
const faults: FaultWindow[] = [];
const rss: RssSample[] = [];
let stopping = false;
try {
  say(`warming up: ${WARMUP_MS / 1000} s at ${RPS} requests/s, not counted (JIT, connection pools, the prefix cache)`);
  const warmStream = sessionStream({ streamSeed: 1, activeSessions: 32, requestsPerSession: 60, withinSessionSpread: 0.1 });
  await runOpenLoop({
    url: `${local.router.url}/predict`,
    rps: RPS,
    durationMs: WARMUP_MS,
    random: seededRandom(1),
    body: () => JSON.stringify({ features: [Array.from((warmStream.next().value as SessionRequest).features)] }),
  }).done;
  say(`${MINUTES} min at ${RPS} requests/s (open loop); a variant killed and restarted every ${FAULT_EVERY_MS / 1000} s; drift from request ${drift.onset} to ${drift.recovery}; SLA p99 ${slaP99Ms} ms`);
  const traffic = runOpenLoop({
    url: `${local.router.url}/predict`,
    rps: RPS,
    durationMs: DURATION_MS,
    random: seededRandom(2027),
    body: () => JSON.stringify({ features: [Array.from((stream.next().value as SessionRequest).features)] }),
  });
  const elapsed = () => performance.now() - traffic.startedAt;
  const sampler = (async () => {
    while (!stopping) {
      rss.push({ atMs: elapsed(), bytes: routerRss(local.router.child.pid!) });
      await sleep(5000);
    }
  })();
  const baselineAfterGc = (async () => {
    await sleep(Math.max(0, 0.15 * DURATION_MS - elapsed()));
    const { rss: bytes } = await memoryAfterGc(routerInspector);
    say(`router RSS after a forced GC, the baseline: ${(bytes / 2 ** 20).toFixed(1)} MB`);
    return bytes;
  })();
  const chaos = (async () => {
    for (let k = 1; k * FAULT_EVERY_MS < DURATION_MS - SETTLE_MS; k++) {
      await sleep(Math.max(0, k * FAULT_EVERY_MS - elapsed()));
      const role = ROLES[(k - 1) % ROLES.length]!;
      const fromMs = elapsed();
      await local.kill(role);
      await local.restart(role);
      const readyMs = elapsed();
      faults.push({ what: `${role} killed and restarted (ready after ${((readyMs - fromMs) / 1000).toFixed(1)} s)`, fromMs, toMs: readyMs + SETTLE_MS });
    }
  })();
  const progress = (async () => {
    let seen = 0;
    for (let minute = 1; minute <= Math.ceil(MINUTES); minute++) {
      await sleep(Math.max(0, minute * 60_000 - elapsed()));
      if (stopping) return;
      const recent = traffic.records.slice(seen);
      seen = traffic.records.length;
      const latencies = recent.filter((r) => r.outcome === 'answered').map((r) => r.latencyMs).sort((a, b) => a - b);
      const lost = traffic.records.filter((r) => r.outcome === 'lost').length;
      const p99 = latencies.length > 0 ? nearestRank(latencies, 0.99).toFixed(1) : '-';
      say(`minute ${minute}/${Math.ceil(MINUTES)}: ${recent.length} answered or refused, p99 ${p99} ms, ${lost} lost so far, router RSS ${(rss[rss.length - 1]!.bytes / 2 ** 20).toFixed(1)} MB, ${faults.length} faults`);
    }
  })();
  await traffic.done;
  await chaos;
  stopping = true;
  await Promise.all([sampler, progress]);

  const status = (await (await fetch(`${local.router.url}/status`)).json()) as { agent: { actions: { request: number; action: string; reason: string }[] } };
  const records: SoakRecord[] = traffic.records.sort((a, b) => a.dueMs - b.dueMs);
  const rssAfterGc = { baseline: await baselineAfterGc, end: (await memoryAfterGc(routerInspector)).rss };
  const summary = summarizeSoak({ records, faults, rss, rssAfterGc, durationMs: DURATION_MS, slaP99Ms });
  const report = {
    generated_at: new Date().toISOString(),
    ...summary,
    offered_rps: RPS,
    fault_every_s: FAULT_EVERY_MS / 1000,
    settle_after_restart_ms: SETTLE_MS,
    faults: faults.map((f) => ({ what: f.what, from_s: Math.round(f.fromMs) / 1000, to_s: Math.round(f.toMs) / 1000 })),
    drift: { onset_request: drift.onset, recovery_request: drift.recovery, magnitude: drift.magnitude },
    agent_actions: status.agent.actions,
    warmup_s: WARMUP_MS / 1000,
    per_10s: perBucket(records).map((b) => ({ minute: round(b.x, 2), p50_ms: round(b.p50), p99_ms: round(b.p99), not_answered: b.notAnswered })),
    rss_samples_mb: rss.map((s) => [Math.round(s.atMs / 1000), Math.round((s.bytes / 2 ** 20) * 10) / 10]),
  };
  mkdirSync(path.join(ROOT, 'reports'), { recursive: true });
  writeFileSync(path.join(ROOT, 'reports', 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(ROOT, 'reports', 'soak.svg'), plot(records, faults, rss, slaP99Ms));
  say(`${summary.requests} requests: ${summary.lost_requests} lost, ${summary.errors} clear errors (${summary.errors_outside_faults} outside fault windows)`);
  say(`p99 outside faults ${summary.p99_ms_outside_faults} ms (SLA ${slaP99Ms} ms), in faults ${summary.p99_ms_in_faults} ms; router RSS after GC ${summary.router_rss_mb.baseline} -> ${summary.router_rss_mb.end} MB (${(summary.router_rss_growth * 100).toFixed(1)}%; sampled, garbage included: ${(summary.router_rss_growth_sampled * 100).toFixed(1)}%)`);
  say(`checks ${JSON.stringify(summary.checks)}; wrote reports/soak.json and reports/soak.svg`);
  process.exitCode = summary.passed ? 0 : 1;
} finally {
  stopping = true;
  await local.stop();
}

function round(n: number, digits = 3): number {
  return Math.round(n * 10 ** digits) / 10 ** digits;
}

/** Latency percentiles and unanswered requests per 10 s of due time; records sorted by due time. */
function perBucket(records: readonly SoakRecord[]): { x: number; p50: number; p99: number; notAnswered: number }[] {
  const bucketMs = 10_000;
  const buckets = [];
  let at = 0;
  for (let start = 0; start < DURATION_MS; start += bucketMs) {
    const slice: SoakRecord[] = [];
    while (at < records.length && records[at]!.dueMs < start + bucketMs) slice.push(records[at++]!);
    const latencies = slice.filter((r) => r.outcome === 'answered').map((r) => r.latencyMs).sort((a, b) => a - b);
    const notAnswered = slice.filter((r) => r.outcome !== 'answered').length;
    const x = (start + bucketMs / 2) / 60_000;
    buckets.push(latencies.length > 0 ? { x, p50: nearestRank(latencies, 0.5), p99: nearestRank(latencies, 0.99), notAnswered } : { x, p50: Number.NaN, p99: Number.NaN, notAnswered });
  }
  return buckets;
}

function plot(records: readonly SoakRecord[], windows: readonly FaultWindow[], samples: readonly RssSample[], sla: number): string {
  const buckets = perBucket(records);
  const answered = buckets.filter((b) => Number.isFinite(b.p99));
  const p50 = answered.map((b) => [b.x, b.p50] as [number, number]);
  const p99 = answered.map((b) => [b.x, b.p99] as [number, number]);
  const errors = buckets.map((b) => [b.x, b.notAnswered] as [number, number]);
  return renderChart({
    title: `inference-cascade soak: ${MINUTES} min at ${RPS} requests/s, a variant killed every ${FAULT_EVERY_MS / 1000} s, one drift episode`,
    xLabel: 'minute',
    markers: [
      ...windows.map((w) => ({ x: w.fromMs / 60_000, label: w.what.split(' ')[0]!, color: '#d62728' })),
      { x: (0.4 * DURATION_MS) / 60_000, label: 'drift', color: '#9467bd' },
      { x: (0.55 * DURATION_MS) / 60_000, label: 'drift ends', color: '#2ca02c' },
    ],
    panels: [
      { title: 'client latency per 10 s (from the due time, open loop)', yLabel: 'ms', series: [{ name: 'p50', color: '#1f77b4', points: p50 }, { name: 'p99', color: '#ff7f0e', points: p99 }], hlines: [{ y: sla, label: `SLA p99 ${sla} ms`, color: '#d62728' }] },
      { title: 'requests refused or lost per 10 s', yLabel: 'requests', series: [{ name: 'not answered', color: '#d62728', points: errors }] },
      { title: 'router RSS', yLabel: 'MB', series: [{ name: 'RSS', color: '#2ca02c', points: samples.map((s) => [s.atMs / 60_000, s.bytes / 2 ** 20] as [number, number]) }] },
    ],
  });
}
