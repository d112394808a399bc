// npm run experiment -- load: open-loop sessions-32 traffic through the real router and variant
// servers (the demo's launcher, heuristic policy), steady and bursty, with the cache off, a fixed
// TTL and the adaptive TTL. Configurations are interleaved over rounds on one cascade (reloaded and
// cleared between runs) so machine noise spreads over all of them.
import path from 'node:path';
import { cpuMicros } from '../common/process-cpu.js';
import { renderBars } from '../common/svg-grid.js';
import { ROLES } from '../crds/types.js';
import { startLocalCascade, type LocalCascade } from '../scripts/standalone/local-cascade.js';
import { ROOT } from '../scripts/cluster/paths.js';
import { sessionStream, type SessionRequest } from '../training/data/sessions32.js';
import { arrivalTimes, DEFAULT_BURST, PROFILES, type Profile } from './arrivals.js';
import { runOpenLoop, type OpenLoopResult } from './open-loop.js';
import type { ExperimentContext, ExperimentReport } from './report.js';
import { latencySummary, round } from './summary.js';

export type CacheMode = 'off' | 'fixed-ttl' | 'adaptive-ttl';
export const CACHE_MODES: readonly CacheMode[] = ['off', 'fixed-ttl', 'adaptive-ttl'];

export const LOAD_SETTINGS = {
  rate: 300,
  measureMs: 10_000,
  warmupMs: 2_000,
  rounds: 2,
  ttlSeconds: 10,
  burst: DEFAULT_BURST,
  stream: { activeSessions: 64, requestsPerSession: 60, withinSessionSpread: 0.1 },
};

interface RunTotals {
  results: OpenLoopResult[];
  routerCpuUs: number;
  variantsCpuUs: number;
  evictions: number;
  expirations: number;
}

async function post(url: string, token: string, body = '{}'): Promise<unknown> {
  const response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

async function cacheStats(local: LocalCascade): Promise<{ evictions: number; expirations: number }> {
  const status = (await (await fetch(`${local.router.url}/status`)).json()) as { cache: { evictions: number; expirations: number } };
  return status.cache;
}

async function runConfiguration(local: LocalCascade, profile: Profile, mode: CacheMode, seed: number, round: number): Promise<RunTotals> {
  local.writeConfig((config) => {
    config.cache = { ...config.cache, enabled: mode !== 'off', ttlSeconds: LOAD_SETTINGS.ttlSeconds, ttlMode: mode === 'adaptive-ttl' ? 'adaptive' : 'fixed' };
  });
  await post(`${local.adminUrl}/admin/reload`, local.adminToken);
  await post(`${local.adminUrl}/admin/cache/clear`, local.adminToken);
  const before = await cacheStats(local);
  // The same arrivals and requests for every cache mode of a round: only the cache differs.
  const times = arrivalTimes({ profile, rate: LOAD_SETTINGS.rate, durationMs: LOAD_SETTINGS.warmupMs + LOAD_SETTINGS.measureMs, seed: seed * 31 + round * 7 + (profile === 'bursty' ? 1 : 0), burst: LOAD_SETTINGS.burst });
  const stream = sessionStream({ ...LOAD_SETTINGS.stream, streamSeed: seed * 17 + round });
  const requests = times.map(() => stream.next().value as SessionRequest);
  const pids = { router: local.router.child.pid!, variants: ROLES.map((role) => local.variants[role].child.pid!) };
  const cpuBefore = { router: cpuMicros(pids.router), variants: pids.variants.reduce((sum, pid) => sum + cpuMicros(pid), 0) };
  const results = await runOpenLoop({ url: local.router.url, times, requestAt: (i) => requests[i]! });
  const cpuAfter = { router: cpuMicros(pids.router), variants: pids.variants.reduce((sum, pid) => sum + cpuMicros(pid), 0) };
  const after = await cacheStats(local);
  return {
    results,
    routerCpuUs: cpuAfter.router - cpuBefore.router,
    variantsCpuUs: cpuAfter.variants - cpuBefore.variants,
    evictions: after.evictions - before.evictions,
    expirations: after.expirations - before.expirations,
  };
}

export async function runLoad(context: ExperimentContext): Promise<ExperimentReport> {
  context.log('starting the sample cascade (four variant servers and the router)');
  const local = await startLocalCascade({ cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'), routerFlags: ['--seed', String(context.seed)] });
  const collected = new Map<string, RunTotals[]>();
  try {
    for (let r = 0; r < LOAD_SETTINGS.rounds; r++) {
      for (const profile of PROFILES) {
        for (const mode of CACHE_MODES) {
          const totals = await runConfiguration(local, profile, mode, context.seed, r);
          const key = `${profile}/${mode}`;
          collected.set(key, [...(collected.get(key) ?? []), totals]);
          context.log(`round ${r + 1}/${LOAD_SETTINGS.rounds} ${key}: ${totals.results.length} requests`);
        }
      }
    }
  } finally {
    await local.stop();
  }
  const runs = PROFILES.flatMap((profile) => CACHE_MODES.map((mode) => {
    const totals = collected.get(`${profile}/${mode}`)!;
    const measured = totals.flatMap((t) => t.results.filter((x) => x.scheduledMs >= LOAD_SETTINGS.warmupMs));
    const ok = measured.filter((x) => x.status === 200);
    const all = totals.flatMap((t) => t.results);
    const seconds = (LOAD_SETTINGS.measureMs / 1000) * totals.length;
    const latency = latencySummary(ok.map((x) => x.latencyMs));
    return {
      profile,
      cache: mode,
      requests: measured.length,
      errors: measured.length - ok.length,
      ...latency,
      rps: round(ok.length / seconds, 1),
      offered_rps: LOAD_SETTINGS.rate,
      hit_rate: round(ok.filter((x) => x.cacheHit).length / Math.max(1, ok.length)),
      hit_p50_ms: latencySummary(ok.filter((x) => x.cacheHit).map((x) => x.latencyMs)).p50_ms,
      miss_p50_ms: latencySummary(ok.filter((x) => !x.cacheHit).map((x) => x.latencyMs)).p50_ms,
      evictions: totals.reduce((s, t) => s + t.evictions, 0),
      expirations: totals.reduce((s, t) => s + t.expirations, 0),
      router_cpu_us_per_request: round(totals.reduce((s, t) => s + t.routerCpuUs, 0) / Math.max(1, all.length), 1),
      variants_cpu_us_per_request: round(totals.reduce((s, t) => s + t.variantsCpuUs, 0) / Math.max(1, all.length), 1),
    };
  }));
  const find = (profile: Profile, mode: CacheMode) => runs.find((r) => r.profile === profile && r.cache === mode)!;
  const tail = (profile: Profile) => {
    const off = find(profile, 'off');
    const cached = find(profile, 'fixed-ttl');
    return { p99_ms_cache_off: off.p99_ms, p99_ms_cache_on: cached.p99_ms, p99_reduction: round(1 - cached.p99_ms / off.p99_ms, 3) };
  };
  const steady = tail('steady');
  const bursty = tail('bursty');
  const json = {
    experiment: 'load',
    seed: context.seed,
    workload: 'sessions-32',
    settings: LOAD_SETTINGS,
    generator: 'open loop: arrival times fixed in advance (Poisson; bursty = on/off Markov-modulated Poisson with the same mean), latency measured from the scheduled send time',
    note: 'the generator shares the 2 cores with the router and the four variant servers; CPU time per request is the servers\' own (process CPU / requests)',
    runs,
    claims: {
      caching_cuts_tail_under_steady_traffic: { ...steady, holds: steady.p99_reduction > 0 },
      caching_can_hurt_under_bursts: { ...bursty, holds: bursty.p99_reduction < 0 },
    },
  };
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];
  const bars = renderBars({
    title: `Open-loop load (${LOAD_SETTINGS.rate}/s mean, sessions-32): client latency per configuration`,
    yLabel: 'ms',
    series: ['p50', 'p95', 'p99', 'mean'].map((name, i) => ({ name, color: colors[i]! })),
    groups: runs.map((r) => ({ label: `${r.profile} ${r.cache}`, values: [r.p50_ms, r.p95_ms, r.p99_ms, r.mean_ms] })),
  });
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const summary = [
    `# Experiment: load (seed ${context.seed})`,
    '',
    `Open loop at ${LOAD_SETTINGS.rate} requests/s mean (bursty: ${LOAD_SETTINGS.burst.peakFactor}x during ON periods of ~${LOAD_SETTINGS.burst.meanOnMs} ms every ~${LOAD_SETTINGS.burst.meanOnMs + LOAD_SETTINGS.burst.meanOffMs} ms), ${LOAD_SETTINGS.rounds} interleaved rounds of ${LOAD_SETTINGS.measureMs / 1000} s per configuration after ${LOAD_SETTINGS.warmupMs / 1000} s warm-up; TTL ${LOAD_SETTINGS.ttlSeconds} s; the sample cascade's heuristic policy.`,
    '',
    '| profile | cache | p50 ms | p95 ms | p99 ms | mean ms | req/s | hit rate | evictions | expirations | router CPU us/req | variants CPU us/req |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...runs.map((r) => `| ${r.profile} | ${r.cache} | ${r.p50_ms} | ${r.p95_ms} | ${r.p99_ms} | ${r.mean_ms} | ${r.rps} | ${pct(r.hit_rate)} | ${r.evictions} | ${r.expirations} | ${r.router_cpu_us_per_request} | ${r.variants_cpu_us_per_request} |`),
    '',
    `- **Claim "prefix caching cuts tail latency under steady traffic"**: ${json.claims.caching_cuts_tail_under_steady_traffic.holds ? 'confirmed' : 'refuted'}: p99 ${steady.p99_ms_cache_off} ms with the cache off, ${steady.p99_ms_cache_on} ms with it on (${pct(steady.p99_reduction)} lower).`,
    `- **Claim "... but can hurt under bursts"**: ${json.claims.caching_can_hurt_under_bursts.holds ? 'confirmed' : 'refuted'}: bursty p99 ${bursty.p99_ms_cache_off} ms off, ${bursty.p99_ms_cache_on} ms on (${pct(bursty.p99_reduction)} lower).`,
    `- Latency figures are timing fields: they vary between runs with the same seed; the table is one run.`,
  ].join('\n');
  // Real-time TTLs and scheduling decide which requests hit, so hit rates, cache counters and the
  // latency claims' verdicts move between runs of one seed; arrivals and request counts do not.
  const timingFields = ['hit_rate', 'evictions', 'expirations', 'p99_ms_cache_off', 'p99_ms_cache_on', 'p99_reduction', 'holds'];
  return { name: 'load', json, plots: { 'load.svg': bars }, summary, timingFields };
}
