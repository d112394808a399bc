// npm run bench:router-overload [-- --rates 1500,2500,3500 --seconds 4 --repeats 2]
// What the router's overload guard (router-sidecar/load/overload-guard.ts) buys when more traffic
// arrives than the router's core carries. Two routers on the same four variant servers, one with
// the guard (--overload-delay-ms 10) and one without (--overload-delay-ms 0, the default), take
// the same open-loop traffic in interleaved runs (A B B A per rate). Per run: answers, answers
// within the sample cascade's 40 ms p99 budget (what a client can use), requests refused with 429,
// other failures, latency of the answers, and the router's CPU per request.
// Pinning as in bench:router: this generator on core 0, routers and variant servers on core 1.
// Writes reports/bench-router-overload.json and .svg.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderChart } from '../common/svg-plot.js';
import { ROLES } from '../crds/types.js';
import { ROOT } from '../scripts/cluster/paths.js';
import { freePort, MODELS_ROOT, spawnNode, startLocalCascade, waitReady } from '../scripts/standalone/local-cascade.js';
import { metricValue } from '../test/support/operator.js';
import { sessionStream } from '../training/data/sessions32.js';
import { closedLoop, cpuMicros, openLoop, percentile, positive, settleCpu, sorted, target, type Target } from './router-load.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '1500,2500,3500' },
    seconds: { type: 'string', default: '4' },
    repeats: { type: 'string', default: '2' },
  },
});
const rates = values.rates.split(',').map((r) => positive('rates', r));
const measuredMs = positive('seconds', values.seconds) * 1000;
const repeats = positive('repeats', values.repeats);
const SLA_P99_MS = 40;
const GUARD_DELAY_MS = 10;
const say = (message: string) => process.stderr.write(`[bench:router-overload] ${message}\n`);
const round = (n: number, digits = 3) => Number(n.toFixed(digits));
const pin = (pid: number, cores: string) => spawnSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' }).status === 0;

interface Router {
  name: 'guarded' | 'unguarded';
  url: string;
  child: ChildProcess;
  t: Target;
}

interface Run {
  router: Router['name'];
  rate: number;
  repeat: number;
  scheduled: number;
  answered: number;
  within_sla: number;
  refused_overloaded: number;
  other_failures: number;
  p50_ms: number;
  p99_ms: number;
  router_cpu_us_per_request: number;
  late_sends: number;
}

async function startRouter(name: Router['name'], configPath: string, workDir: string, bodies: string[]): Promise<Router> {
  const port = await freePort();
  const args = ['--config', configPath, '--host', '127.0.0.1', '--port', String(port), '--admin-port', '0', '--models-root', MODELS_ROOT, '--watch-interval-ms', '0', '--overload-delay-ms', String(name === 'guarded' ? GUARD_DELAY_MS : 0)];
  const child = spawnNode('router-sidecar/main.ts', args, path.join(workDir, `router-${name}.log`));
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`, child, `${name} router`);
  return { name, url, child, t: target(name, url, '/predict', bodies) };
}

const refusedSoFar = async (url: string) => metricValue(await (await fetch(`${url}/metrics`)).text(), 'inference_cascade_router_overload_shed_total');

/** `calm`: every process on the servers' core, so the other router's backlog from its last run is gone too. */
async function run(router: Router, rate: number, repeat: number, calm: number[]): Promise<Run> {
  await settleCpu(calm, 30_000);
  const refusedBefore = await refusedSoFar(router.url);
  const cpuBefore = cpuMicros(router.child.pid!);
  const result = await openLoop(router.t, { rate, durationMs: measuredMs, drainMs: 5000 });
  const cpu = cpuMicros(router.child.pid!) - cpuBefore;
  const refused = (await refusedSoFar(router.url)) - refusedBefore;
  const latencies = sorted(result.latenciesMs);
  return {
    router: router.name,
    rate,
    repeat,
    scheduled: result.scheduled,
    answered: result.completed,
    within_sla: result.latenciesMs.filter((ms) => ms <= SLA_P99_MS).length,
    refused_overloaded: refused,
    other_failures: result.failed - refused,
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    router_cpu_us_per_request: round(cpu / result.scheduled, 1),
    late_sends: result.late,
  };
}

pin(process.pid, '0');
const stream = sessionStream({ streamSeed: 42, activeSessions: 64, requestsPerSession: 8 });
const bodies = Array.from({ length: 512 }, () => JSON.stringify({ features: [Array.from(stream.next().value!.features)] }));
say('starting the sample cascade (static -> distilled, cache off) and two routers on it: guarded and unguarded');
const cascade = await startLocalCascade({
  cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
  adjust: (config) => {
    config.policy = { type: 'static', staticRole: 'distilled' };
    config.cache.enabled = false;
  },
  log: say,
});
const workDir = path.dirname(cascade.configPath);
const routers: Router[] = [];
try {
  for (const name of ['guarded', 'unguarded'] as const) routers.push(await startRouter(name, cascade.configPath, workDir, bodies));
  const variantPids = ROLES.map((role) => cascade.variants[role].child.pid!);
  for (const pid of [...variantPids, ...routers.map((r) => r.child.pid!), cascade.router.child.pid!]) pin(pid, '1');
  say('warming up both routers (closed loop, 8 connections, 2 s each)');
  for (const r of routers) await closedLoop(r.t, 8, 2000);

  const runs: Run[] = [];
  const [guarded, unguarded] = routers as [Router, Router];
  for (const rate of rates) {
    for (let repeat = 0; repeat < repeats; repeat++) {
      const order = repeat % 2 === 0 ? [guarded, unguarded] : [unguarded, guarded];
      for (const router of order) {
        const r = await run(router, rate, repeat, [...variantPids, guarded.child.pid!, unguarded.child.pid!]);
        runs.push(r);
        say(`${rate}/s ${r.router.padEnd(9)} run ${repeat + 1}: ${r.answered}/${r.scheduled} answered, ${r.within_sla} within ${SLA_P99_MS} ms, ${r.refused_overloaded} refused (429), ${r.other_failures} other failures; answers p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms; router CPU ${r.router_cpu_us_per_request} us/request`);
      }
    }
  }

  const byRate = rates.map((rate) => {
    const of = (name: Router['name']) => {
      const rs = runs.filter((r) => r.rate === rate && r.router === name);
      const scheduled = rs.reduce((s, r) => s + r.scheduled, 0);
      const sum = (key: 'answered' | 'within_sla' | 'refused_overloaded' | 'other_failures') => rs.reduce((s, r) => s + r[key], 0);
      return {
        within_sla_share: round(sum('within_sla') / scheduled),
        answered_share: round(sum('answered') / scheduled),
        refused_share: round(sum('refused_overloaded') / scheduled),
        other_failure_share: round(sum('other_failures') / scheduled),
        p99_ms_per_run: rs.map((r) => r.p99_ms),
      };
    };
    const g = of('guarded');
    const u = of('unguarded');
    return { rate, guarded: g, unguarded: u, within_sla_ratio: round(g.within_sla_share / Math.max(1e-9, u.within_sla_share)) };
  });
  const report = {
    generated_at: new Date().toISOString(),
    what: `two routers (static -> distilled, cache off) on the same four variant servers; guarded: --overload-delay-ms ${GUARD_DELAY_MS}; unguarded: --overload-delay-ms 0 (the default); open loop, ${measuredMs / 1000} s per run, runs interleaved (A B B A); within SLA = answered 200 within ${SLA_P99_MS} ms of its dispatch (the generator sends on schedule; late sends are counted per run)`,
    setup: { pinning: 'generator on core 0; routers and variant servers on core 1', cpus: os.cpus().length, load_average_at_end: os.loadavg().map((l) => round(l, 2)) },
    by_rate: byRate,
    runs,
  };
  const svg = renderChart({
    title: 'Open-loop overload: share of requests answered within 40 ms, with and without the overload guard',
    xLabel: 'offered requests/s',
    panels: [
      {
        title: 'answered within 40 ms (dots: runs)',
        yLabel: 'share',
        yMax: 1,
        series: [
          { name: 'guarded', color: '#2ca02c', style: 'dots', points: runs.filter((r) => r.router === 'guarded').map((r) => [r.rate, r.within_sla / r.scheduled] as [number, number]) },
          { name: 'unguarded', color: '#d62728', style: 'dots', points: runs.filter((r) => r.router === 'unguarded').map((r) => [r.rate, r.within_sla / r.scheduled] as [number, number]) },
        ],
      },
      {
        title: 'refused with 429 by the guard',
        yLabel: 'share',
        yMax: 1,
        series: [{ name: 'guarded', color: '#2ca02c', style: 'dots', points: runs.filter((r) => r.router === 'guarded').map((r) => [r.rate, r.refused_overloaded / r.scheduled] as [number, number]) }],
      },
    ],
  });
  mkdirSync(path.join(ROOT, 'reports'), { recursive: true });
  writeFileSync(path.join(ROOT, 'reports', 'bench-router-overload.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(ROOT, 'reports', 'bench-router-overload.svg'), svg);
  process.stdout.write(`${JSON.stringify({ by_rate: byRate }, null, 2)}\n`);
  say('wrote reports/bench-router-overload.json and reports/bench-router-overload.svg');
} finally {
  for (const r of routers) {
    await r.t.pool.close().catch(() => undefined);
    r.child.kill('SIGTERM');
  }
  await cascade.stop();
}
