// npm run evaluate -- --checkpoint models/sessions-32/policy/policy.onnx [--config configs/default.yaml]
//                     [--ablation-study] [--statistical-tests]
//
// End to end on the held-out trace: the four variant servers and the router run as local
// processes; every policy serves the same requests at the same open-loop arrival times (steady and
// bursty), seed by seed, runs interleaved. Writes reports/policy.json and reports/policy-pareto.svg.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderChart } from '../../common/svg-plot.js';
import { ROLES, type PolicySpec } from '../../crds/types.js';
import { cpuMicros } from '../../common/process-cpu.js';
import { startLocalCascade, type LocalCascade } from '../../scripts/standalone/local-cascade.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { seededRandom, shuffledIndices } from '../../common/random.js';
import { baselinePolicies, oracleRole, tuneCascadeThreshold, type EvaluatedPolicy } from './baselines.js';
import { beatsAtEqualLatency, comparePaired, oracleAgreement, summarizeRun, type RunSummary } from './compare.js';
import { loadPolicyConfig, type PolicyConfig } from './config.js';
import { driveOpenLoop, type DrivenRequest } from './drive.js';
import { relativeCosts } from './environment.js';
import { progressBar } from './progress.js';
import { arrivalTimes, serviceModel, simulate, summarize as summarizeSimulation, type ArrivalPattern, type SimulatedPolicy } from './simulator.js';
import { accuracyOf } from './trace.js';
import { loadOrRecordTraces } from './traces.js';
import { SAMPLE_CASCADE } from './record.js';
import { pastSaturation, sustainableRate, sustains } from './throughput.js';

const log = (message: string) => process.stderr.write(`${message}\n`);
const PROFILES: readonly ArrivalPattern[] = ['steady', 'bursty'];

interface Args {
  checkpoint: string;
  config: string;
  ablationStudy: boolean;
  statisticalTests: boolean;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      checkpoint: { type: 'string' },
      config: { type: 'string', default: 'configs/default.yaml' },
      'ablation-study': { type: 'boolean', default: false },
      'statistical-tests': { type: 'boolean', default: false },
    },
  });
  if (!values.checkpoint) throw new Error('--checkpoint <policy.onnx> is required');
  const checkpoint = path.resolve(values.checkpoint);
  if (!existsSync(checkpoint)) throw new Error(`--checkpoint ${values.checkpoint}: no such file (run npm run train:policy first)`);
  return { checkpoint, config: values.config!, ablationStudy: values['ablation-study']!, statisticalTests: values['statistical-tests']! };
}

function learnedPolicies(checkpoint: string, ablations: boolean): EvaluatedPolicy[] {
  const dir = path.dirname(checkpoint);
  const spec = (file: string): PolicySpec => ({ type: 'learned', model: { uri: pathToFileURL(file).href } });
  const policies: EvaluatedPolicy[] = [{ name: 'learned', spec: spec(checkpoint), kind: 'learned' }];
  for (const other of ['ppo', 'cost-sensitive']) {
    const file = path.join(dir, `${other}.onnx`);
    // The shipped policy is a copy of one of these; run the other one only.
    if (existsSync(file) && !readFileSync(file).equals(readFileSync(checkpoint))) policies.push({ name: `learned-${other}`, spec: spec(file), kind: 'learned' });
  }
  if (ablations) {
    for (const group of ['difficulty', 'load', 'sla']) {
      const file = path.join(dir, `ablation-no-${group}.onnx`);
      if (!existsSync(file)) throw new Error(`--ablation-study: ${path.relative(ROOT, file)} is missing (npm run train:policy writes it)`);
      policies.push({ name: `ablation-no-${group}`, spec: spec(file), kind: 'ablation' });
    }
  }
  return policies;
}

/** Switches the router's policy through its config file and waits until the router reports it. */
async function usePolicy(cascade: LocalCascade, spec: PolicySpec, distilledInRouter: boolean): Promise<void> {
  cascade.writeConfig((config) => {
    config.policy = { ...spec, distilledInRouter };
  });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const status = (await (await fetch(`${cascade.router.url}/status`)).json()) as { policy: string; policy_model: string | null };
    if (status.policy === spec.type && status.policy_model === (spec.model?.uri ?? null)) return;
    await sleep(100);
  }
  throw new Error(`the router did not switch to policy ${JSON.stringify(spec)} within 15 s (see its log in ${cascade.configPath})`);
}

interface CpuSample {
  router: number;
  variants: number;
}

function cpuNow(cascade: LocalCascade): CpuSample {
  return { router: cpuMicros(cascade.router.child.pid!), variants: ROLES.reduce((sum, role) => sum + cpuMicros(cascade.variants[role].child.pid!), 0) };
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const args = parse(argv);
  const config: PolicyConfig = loadPolicyConfig(args.config);
  const started = Date.now();
  const traces = await loadOrRecordTraces(config.workload, { log });
  const heldout = traces.heldout.rows;
  const model = serviceModel(traces.train.service, config.distilledInRouter);
  // Only their order matters here (the oracle's cheapest right role, the cascade's chain).
  const costs = relativeCosts(model);
  const fullAccuracyTrain = accuracyOf(traces.train.rows, 'full');
  const cascadeTuning = tuneCascadeThreshold(traces.train.rows, Array.from({ length: traces.train.rows.labels.length }, (_, i) => i), costs, fullAccuracyTrain - config.objective.maxAccuracyDrop);
  log(`threshold cascade: confidence threshold ${cascadeTuning.threshold} (tuned on the training trace to ${(cascadeTuning.accuracy * 100).toFixed(2)}%)`);
  const policies = [...baselinePolicies(cascadeTuning.threshold), ...learnedPolicies(args.checkpoint, args.ablationStudy)];
  const sla = { p99LatencyMs: config.sla.p99LatencyMs, minAccuracy: config.sla.minAccuracy };

  const cascade = await startLocalCascade({
    cascadeFile: SAMPLE_CASCADE,
    adjust: (c) => {
      c.cache = { ...c.cache, enabled: false };
      c.sla = sla;
    },
    log,
  });
  // runs[policy][profile][seedIndex]
  const runs = new Map<string, Record<ArrivalPattern, DrivenRequest[][]>>();
  const cpu = new Map<string, { router: number; variants: number; requests: number }>();
  const schedule: { rows: number[]; arrivals: Record<ArrivalPattern, Float64Array> }[] = config.evaluation.seeds.map((seed) => {
    const random = seededRandom(seed);
    const rows = shuffledIndices(heldout.labels.length, random).slice(0, config.evaluation.requests);
    return {
      rows,
      arrivals: {
        steady: arrivalTimes(rows.length, config.evaluation.steadyRate, 'steady', seededRandom(seed * 10 + 1)),
        bursty: arrivalTimes(rows.length, config.evaluation.burstyRate, 'bursty', seededRandom(seed * 10 + 2)),
      },
    };
  });
  const oracleRoles = schedule.map((s) => s.rows.map((row) => oracleRole(heldout, row, costs)));
  const throughput: Record<string, { rate: number; repeats: RunSummary[] }[]> = {};
  try {
    // Warm-up: each variant alone at the steady rate (a cold full-precision server at 1000 req/s
    // falls behind and times out for seconds), then the router's learned-policy path.
    for (const role of ROLES) {
      await usePolicy(cascade, { type: 'static', staticRole: role }, false);
      await driveOpenLoop({ routerUrl: cascade.router.url, trace: heldout, rows: schedule[0]!.rows.slice(0, 2000), arrivals: arrivalTimes(2000, config.evaluation.steadyRate, 'steady', seededRandom(9)) });
    }
    await usePolicy(cascade, policies.find((p) => p.name === 'learned')!.spec, config.distilledInRouter);
    await driveOpenLoop({ routerUrl: cascade.router.url, trace: heldout, rows: schedule[0]!.rows.slice(0, 2000), arrivals: arrivalTimes(2000, config.evaluation.steadyRate, 'steady', seededRandom(9)) });

    const total = policies.length * PROFILES.length * schedule.length;
    const bar = progressBar('evaluate', total);
    let done = 0;
    for (let s = 0; s < schedule.length; s++) {
      for (const profile of PROFILES) {
        for (const policy of policies) {
          await usePolicy(cascade, policy.spec, config.distilledInRouter);
          const before = cpuNow(cascade);
          const results = await driveOpenLoop({
            routerUrl: cascade.router.url,
            trace: heldout,
            rows: schedule[s]!.rows,
            arrivals: schedule[s]!.arrivals[profile],
            ...(policy.oracle ? { pins: oracleRoles[s]! } : {}),
          });
          const after = cpuNow(cascade);
          const entry = runs.get(policy.name) ?? { steady: [], bursty: [] };
          entry[profile][s] = results;
          runs.set(policy.name, entry);
          const used = cpu.get(policy.name) ?? { router: 0, variants: 0, requests: 0 };
          cpu.set(policy.name, { router: used.router + after.router - before.router, variants: used.variants + after.variants - before.variants, requests: used.requests + results.length });
          const summary = summarizeRun(results, sla.p99LatencyMs);
          bar.tick(++done, `${policy.name} ${profile} seed ${config.evaluation.seeds[s]}: p99 ${summary.p99Ms.toFixed(1)} ms, acc ${(summary.accuracy * 100).toFixed(2)}%`);
        }
      }
    }
    bar.end();

    // Sustainable throughput within the SLA: the highest steady rate at which most of its repeated
    // runs have p99 within the budget, under 1% violations and the generator on schedule.
    // Static-full and the shipped policy only.
    for (const name of ['static-full', 'learned']) {
      const policy = policies.find((p) => p.name === name)!;
      await usePolicy(cascade, policy.spec, config.distilledInRouter);
      throughput[name] = [];
      for (const rate of config.evaluation.throughputRates) {
        const rows = schedule[0]!.rows.slice(0, Math.min(schedule[0]!.rows.length, Math.round(rate * 2.5)));
        const repeats: RunSummary[] = [];
        for (let k = 0; k < config.evaluation.throughputRepeats; k++) {
          const results = await driveOpenLoop({ routerUrl: cascade.router.url, trace: heldout, rows, arrivals: arrivalTimes(rows.length, rate, 'steady', seededRandom(rate * 100 + k)) });
          repeats.push(summarizeRun(results, sla.p99LatencyMs));
        }
        const point = { rate, repeats };
        throughput[name]!.push(point);
        const runs = repeats.map((r) => `p99 ${r.p99Ms.toFixed(1)} ms / ${(r.slaViolationRate * 100).toFixed(2)}% / late ${(r.generatorLagShare * 100).toFixed(1)}%`).join('; ');
        log(`throughput ${name} @ ${rate}/s: ${sustains(point, sla.p99LatencyMs) ? 'sustained' : 'not sustained'} (${runs})`);
        if (pastSaturation(point, sla.p99LatencyMs)) break;
      }
    }
  } finally {
    await cascade.stop();
  }

  // --- report ---
  const summaries: Record<string, Record<ArrivalPattern, RunSummary>> = {};
  for (const [name, byProfile] of runs) {
    summaries[name] = { steady: summarizeRun(byProfile.steady.flat(), sla.p99LatencyMs), bursty: summarizeRun(byProfile.bursty.flat(), sla.p99LatencyMs) };
  }
  const meanSeedP99 = (name: string, profile: ArrivalPattern) => {
    const perSeed = runs.get(name)![profile].map((r) => summarizeRun(r, sla.p99LatencyMs).p99Ms);
    return perSeed.reduce((a, b) => a + b, 0) / perSeed.length;
  };
  const sustainable = (name: string) => sustainableRate(throughput[name]!, sla.p99LatencyMs);
  const learned = summaries.learned!;
  const staticFull = summaries['static-full']!;
  const trainingFile = path.join(path.dirname(args.checkpoint), 'training.json');
  const training = existsSync(trainingFile) ? (JSON.parse(readFileSync(trainingFile, 'utf8')) as { ppo?: { convergence_epochs?: number }; shipped?: string }) : {};
  const achieved = {
    p99_reduction: 1 - meanSeedP99('learned', 'steady') / meanSeedP99('static-full', 'steady'),
    accuracy_degradation: staticFull.steady.accuracy - learned.steady.accuracy,
    throughput_x: sustainable('static-full') > 0 ? sustainable('learned') / sustainable('static-full') : NaN,
    sla_violation_rate: learned.steady.slaViolationRate,
    convergence_epochs: training.ppo?.convergence_epochs ?? NaN,
  };
  const targets = { p99_reduction: 0.35, accuracy_degradation: 0.02, throughput_x: 2.5, sla_violation_rate: 0.01, convergence_epochs: 50 };
  const met = {
    p99_reduction: achieved.p99_reduction >= targets.p99_reduction,
    accuracy_degradation: achieved.accuracy_degradation < targets.accuracy_degradation,
    throughput_x: achieved.throughput_x >= targets.throughput_x,
    sla_violation_rate: achieved.sla_violation_rate < targets.sla_violation_rate,
    convergence_epochs: achieved.convergence_epochs < targets.convergence_epochs,
  };
  const oracleMaxShare = Math.max(...ROLES.map((role) => summaries.oracle!.steady.shares[role]));
  const learnedMaxShare = Math.max(...ROLES.map((role) => learned.steady.shares[role]));
  const nonOracle = policies.filter((p) => p.kind === 'baseline').map((p) => p.name);
  const point = (name: string) => ({ name, p99Ms: summaries[name]!.steady.p99Ms, accuracy: summaries[name]!.steady.accuracy });
  const comparisons: Record<string, unknown> = {};
  if (args.statisticalTests) {
    for (const name of [...nonOracle, ...policies.filter((p) => p.kind !== 'baseline' && p.name !== 'learned').map((p) => p.name)]) {
      const steady = comparePaired(runs.get('learned')!.steady, runs.get(name)!.steady, 11);
      comparisons[name] = { steady, beats_at_equal_latency: beatsAtEqualLatency(point('learned'), point(name)) };
    }
  }
  // Simulator calibration: the same rows and arrival times through the queueing model, for the
  // policies the simulator can replay without the router's ONNX runtime.
  const calibration = ['static-full', 'static-quantized', 'random', 'round-robin'].flatMap((name) =>
    PROFILES.map((profile) => {
      const real = summaries[name]![profile];
      const simulatedRuns = schedule.map((s, i) => {
        let turn = 0;
        const random = seededRandom(100 + i);
        const choose: SimulatedPolicy =
          name === 'static-full' ? () => 'full' : name === 'static-quantized' ? () => 'quantized' : name === 'round-robin' ? () => ROLES[turn++ % ROLES.length]! : () => ROLES[random.int(ROLES.length)]!;
        return simulate({ trace: heldout, model, rows: s.rows, arrivals: s.arrivals[profile], sla, estimates: () => ({ difficulty: 0.5 }), policy: choose, seed: i + 1 });
      });
      const sim = summarizeSimulation(simulatedRuns.flat(), sla);
      return { policy: name, profile, real_p50_ms: real.p50Ms, sim_p50_ms: sim.p50Ms, real_p99_ms: real.p99Ms, sim_p99_ms: sim.p99Ms, p50_error: sim.p50Ms / real.p50Ms - 1, p99_error: sim.p99Ms / real.p99Ms - 1 };
    }),
  );
  const meanAbs = (values: number[]) => values.reduce((a, b) => a + Math.abs(b), 0) / values.length;
  const report = {
    generated_at: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    checkpoint: path.relative(ROOT, args.checkpoint),
    shipped_method: training.shipped,
    setup: {
      workload: config.workload,
      heldout_rows: heldout.labels.length,
      requests_per_run: config.evaluation.requests,
      seeds: config.evaluation.seeds,
      steady_rate: config.evaluation.steadyRate,
      bursty_mean_rate: config.evaluation.burstyRate,
      sla,
      cache: 'off (every request computed fresh, so routing alone is measured)',
      distilled_in_router: config.distilledInRouter
        ? "every policy's distilled choices are answered by the router's own copy of the distilled model (policy.distilledInRouter); pinned requests (the oracle) are forwarded"
        : false,
      machine_cpus: model.cores,
      note: 'load generator, router and the four variant servers share the machine; latency is measured from each request\'s scheduled send time',
    },
    targets,
    achieved,
    met,
    route_shares: learned.steady.shares,
    routing: {
      oracle_agreement: oracleAgreement(runs.get('learned')!.steady.flat(), oracleRoles.flat()),
      max_share: learnedMaxShare,
      oracle_max_share: oracleMaxShare,
      collapse_check: learnedMaxShare <= 0.9 || oracleMaxShare > 0.9,
    },
    bursty: { sla_violation_rate: learned.bursty.slaViolationRate, target: 0.02, met: learned.bursty.slaViolationRate < 0.02 },
    baselines: Object.fromEntries(Object.entries(summaries).map(([name, s]) => [name, { p99_ms: s.steady.p99Ms, p50_ms: s.steady.p50Ms, accuracy: s.steady.accuracy, sla_violation_rate: s.steady.slaViolationRate, shares: s.steady.shares, in_router_share: s.steady.inRouterShare, bursty: { p99_ms: s.bursty.p99Ms, accuracy: s.bursty.accuracy, sla_violation_rate: s.bursty.slaViolationRate }, errors: s.steady.errors + s.bursty.errors }])),
    cpu_ms_per_request: Object.fromEntries([...cpu].map(([name, c]) => [name, { router: c.router / 1000 / c.requests, variants: c.variants / 1000 / c.requests }])),
    throughput: { sustainable_rps: { 'static-full': sustainable('static-full'), learned: sustainable('learned') }, sweeps: Object.fromEntries(Object.entries(throughput).map(([name, sweep]) => [name, sweep.map((t) => ({ rate: t.rate, sustained: sustains(t, sla.p99LatencyMs), runs: t.repeats.map((r) => ({ p99_ms: r.p99Ms, sla_violation_rate: r.slaViolationRate, generator_lag_share: r.generatorLagShare })) }))])) },
    beats_every_baseline_at_equal_latency: nonOracle.every((name) => beatsAtEqualLatency(point('learned'), point(name))),
    comparisons,
    simulator_calibration: { runs: calibration, mean_abs_p50_error: meanAbs(calibration.map((c) => c.p50_error)), mean_abs_p99_error: meanAbs(calibration.map((c) => c.p99_error)) },
  };
  const reports = path.join(ROOT, 'reports');
  mkdirSync(reports, { recursive: true });
  writeFileSync(path.join(reports, 'policy.json'), `${JSON.stringify(report, null, 2)}\n`);
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#000000', '#aec7e8', '#ffbb78'];
  writeFileSync(
    path.join(reports, 'policy-pareto.svg'),
    renderChart({
      title: `Held-out trace, steady ${config.evaluation.steadyRate} req/s, end to end: p99 latency vs accuracy (every policy a point)`,
      xLabel: 'p99 latency (ms)',
      panels: [{ title: 'accuracy', yLabel: '%', series: Object.keys(summaries).map((name, i) => ({ name, color: colors[i % colors.length]!, points: [[summaries[name]!.steady.p99Ms, summaries[name]!.steady.accuracy * 100]], style: 'dots' as const })) }],
    }),
  );
  log(`wrote reports/policy.json and reports/policy-pareto.svg in ${report.seconds.toFixed(0)} s`);
  log(JSON.stringify({ achieved, met, route_shares: report.route_shares, bursty: report.bursty }, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    log(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    process.exitCode = 1;
  });
}
