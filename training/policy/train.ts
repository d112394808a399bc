// npm run train:policy -- --config configs/default.yaml [--record]
//
// Records (or reuses) traces, trains the difficulty estimator, trains the PPO-Lagrangian policy
// and the cost-sensitive classifier, trains the ablations, and writes to `output`:
//   estimator.onnx   signals -> correctness [batch, 4] (sigmoid)
//   policy.onnx      the better of the two on validation episodes (the router loads this one)
//   ppo.onnx, cost-sensitive.onnx, ablation-no-{difficulty,load,sla}.onnx
//   training.json    calibration, learning curves, convergence, the choice and why
// plus reports/policy-training.svg (learning curves).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROLES } from '../../crds/types.js';
import { renderChart } from '../../common/svg-plot.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { seededRandom, shuffledIndices } from '../../common/random.js';
import { loadPolicyConfig, type PolicyConfig } from './config.js';
import { trainCostSensitive } from './cost-sensitive.js';
import { buildEnvironment, featureMask, type Environment, type EpisodeSpec, type FeatureGroup } from './environment.js';
import { selectionCeiling } from './ceiling.js';
import { calibration, predictCorrectness, trainEstimator } from './estimator.js';
import { buildMlpGraph } from './mlp-graph.js';
import type { Mlp } from './nn.js';
import { convergenceIteration, type ConstraintTargets } from './objective.js';
import { trainPpo, validate, type PpoIteration, type ValidationResult } from './ppo.js';
import { progressBar } from './progress.js';
import { distilledSignals } from './signals.js';
import { serviceModel } from './simulator.js';
import { accuracyOf, isCorrect } from './trace.js';
import { loadOrRecordTraces } from './traces.js';
import { POLICY_INPUT, POLICY_OUTPUT } from '../../router-sidecar/policy/policy-graph.js';
import { ESTIMATOR_INPUT, ESTIMATOR_OUTPUT } from '../../router-sidecar/policy/estimator-model.js';

const log = (message: string) => process.stderr.write(`${message}\n`);
const pct = (share: number) => `${(share * 100).toFixed(2)}%`;

/** Converged: every later validation within 10% of the plateau (the mean of the last three) of the penalised validation cost. */
export const CONVERGENCE = { tolerance: 0.1, tail: 3 } as const;

export function validationEpisodes(rows: readonly number[], config: PolicyConfig, seed: number): EpisodeSpec[] {
  const random = seededRandom(seed);
  const sla = { p99LatencyMs: config.sla.p99LatencyMs, minAccuracy: config.sla.minAccuracy };
  const pick = () => Array.from({ length: Math.min(rows.length, 3000) }, () => rows[random.int(rows.length)]!);
  return [
    { rows: pick(), rate: config.evaluation.steadyRate, pattern: 'steady', sla, seed: 101 },
    { rows: pick(), rate: config.evaluation.burstyRate, pattern: 'bursty', sla, seed: 102 },
    { rows: pick(), rate: config.ppo.rateRange[1], pattern: 'steady', sla, seed: 103 },
  ];
}

interface Contender {
  name: string;
  method: 'ppo' | 'cost-sensitive';
  policy: Mlp;
  validation: ValidationResult;
}

function trainWithPpo(env: Environment, config: PolicyConfig, trainRows: number[], validation: EpisodeSpec[], targets: ConstraintTargets, label: string, without: FeatureGroup[] = []) {
  const bar = progressBar(label, config.ppo.iterations);
  const result = trainPpo({
    env,
    config,
    trainRows,
    validation,
    targets,
    seed: config.seed,
    ...(without.length ? { inputMask: featureMask(without) } : {}),
    onIteration: (r) =>
      bar.tick(r.iteration, `acc ${(r.train.accuracy * 100).toFixed(2)}% viol ${(r.train.slaViolationRate * 100).toFixed(2)}% cost ${r.train.meanCost.toFixed(3)} H ${r.train.entropy.toFixed(2)} lambda ${r.multipliers.accuracy.toFixed(1)}/${r.multipliers.sla.toFixed(1)}`),
  });
  bar.end();
  return result;
}

/** Validation cost with an infeasibility penalty, the quantity whose settling defines convergence. */
function penalisedCost(v: NonNullable<PpoIteration['validation']>, targets: ConstraintTargets): number {
  return v.meanCost + 10 * Math.max(0, targets.accuracy - v.accuracy) + 10 * Math.max(0, v.slaViolationRate - targets.slaViolationRate);
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', default: 'configs/default.yaml' }, record: { type: 'boolean', default: false } } });
  const started = Date.now();
  const config = loadPolicyConfig(values.config!);
  const output = path.resolve(ROOT, config.output);
  const traces = await loadOrRecordTraces(config.workload, { record: values.record!, log });
  const trace = traces.train.rows;
  const random = seededRandom(config.seed);
  const order = shuffledIndices(trace.labels.length, random);
  const split = Math.floor(order.length * 0.8);
  const trainRows = order.slice(0, split);
  const validationRows = order.slice(split);

  log('estimator: computing the distilled signals and training');
  const signals = await distilledSignals(trace);
  const estimatorBar = progressBar('estimator', config.estimator.epochs);
  const estimator = trainEstimator(trace, signals, trainRows, validationRows, { ...config.estimator, seed: config.seed }, (epoch, loss) => estimatorBar.tick(epoch, `validation BCE ${loss.toFixed(4)}`));
  estimatorBar.end();
  const heldoutSignals = await distilledSignals(traces.heldout.rows);
  const heldoutP = predictCorrectness(estimator.model, heldoutSignals.values, traces.heldout.rows.labels.length);
  const estimatorCalibration = Object.fromEntries(
    ROLES.map((role, k) => {
      const n = traces.heldout.rows.labels.length;
      const c = calibration(Array.from({ length: n }, (_, i) => heldoutP[i * ROLES.length + k]!), Array.from({ length: n }, (_, i) => isCorrect(traces.heldout.rows, role, i)));
      return [role, c];
    }),
  );
  const ceiling = selectionCeiling(traces.heldout.rows, heldoutP);
  log(`held-out selection ceiling: best static route ${ceiling.best_variant.role} ${pct(ceiling.best_variant.accuracy)}, the estimator's pick per request ${pct(ceiling.estimator_choice.accuracy)}, majority vote of all four ${pct(ceiling.majority_vote)}, oracle ${pct(ceiling.oracle)}`);
  for (const role of ROLES) log(`estimator ${role}: held-out ECE ${estimatorCalibration[role]!.ece.toFixed(4)}, AUC ${estimatorCalibration[role]!.auc.toFixed(3)}, Brier ${estimatorCalibration[role]!.brier.toFixed(4)}`);

  const env = buildEnvironment(trace, serviceModel(traces.train.service, config.distilledInRouter), estimator.model, signals);
  if (env.model.distilledInRouterCpuMs !== undefined) log(`distilled answered in the router: ${env.model.distilledInRouterCpuMs.toFixed(3)} ms CPU per request (measured in process)`);
  const fullAccuracy = accuracyOf(trace, 'full', validationRows);
  const targets: ConstraintTargets = { accuracy: fullAccuracy - config.objective.maxAccuracyDrop, slaViolationRate: config.objective.maxSlaViolationRate };
  log(`targets: accuracy >= ${(targets.accuracy * 100).toFixed(2)}% (full ${(fullAccuracy * 100).toFixed(2)}% - ${config.objective.maxAccuracyDrop * 100} pt), SLA violations <= ${(targets.slaViolationRate * 100).toFixed(2)}%`);
  log(`relative CPU cost per request: ${ROLES.map((role) => `${role} ${env.costs[role].toFixed(2)}`).join(', ')}`);
  const validation = validationEpisodes(validationRows, config, config.seed);

  const ppoStarted = Date.now();
  const ppo = trainWithPpo(env, config, trainRows, validation, targets, 'ppo');
  const ppoSeconds = (Date.now() - ppoStarted) / 1000;
  const cscStarted = Date.now();
  const csc = trainCostSensitive({ env, config, trainRows, validation, targets, seed: config.seed, log });
  const cscSeconds = (Date.now() - cscStarted) / 1000;

  const contenders: Contender[] = [
    { name: 'ppo', method: 'ppo', policy: ppo.policy, validation: validate(env, ppo.policy, validation, targets) },
    { name: 'cost-sensitive', method: 'cost-sensitive', policy: csc.policy, validation: validate(env, csc.policy, validation, targets) },
  ];
  for (const c of contenders) log(`${c.name}: validation accuracy ${(c.validation.accuracy * 100).toFixed(2)}%, SLA violations ${(c.validation.slaViolationRate * 100).toFixed(2)}%, cost ${c.validation.meanCost.toFixed(3)}${c.validation.feasible ? '' : ' (misses a constraint)'}`);
  // Feasible beats infeasible; then the lower cost. PPO is kept on a tie, as the prototype's method.
  const ranked = [...contenders].sort((a, b) => Number(b.validation.feasible) - Number(a.validation.feasible) || a.validation.meanCost - b.validation.meanCost);
  const chosen = ranked[0]!;
  log(`shipping ${chosen.name} as policy.onnx`);

  const ablations: Record<string, Mlp> = {};
  for (const group of ['difficulty', 'load', 'sla'] as const) {
    if (chosen.method === 'ppo') ablations[group] = trainWithPpo(env, config, trainRows, validation, targets, `ppo without ${group}`, [group]).policy;
    else ablations[group] = trainCostSensitive({ env, config, trainRows, validation, targets, seed: config.seed, inputMask: featureMask([group]), log }).policy;
  }

  mkdirSync(output, { recursive: true });
  const writePolicy = (file: string, network: Mlp) => writeFileSync(path.join(output, file), buildMlpGraph(network, { input: POLICY_INPUT, output: POLICY_OUTPUT, name: 'routing-policy' }));
  writePolicy('policy.onnx', chosen.policy);
  writePolicy('ppo.onnx', ppo.policy);
  writePolicy('cost-sensitive.onnx', csc.policy);
  for (const [group, network] of Object.entries(ablations)) writePolicy(`ablation-no-${group}.onnx`, network);
  writeFileSync(path.join(output, 'estimator.onnx'), buildMlpGraph(estimator.model, { input: ESTIMATOR_INPUT, output: ESTIMATOR_OUTPUT, outputActivation: 'sigmoid', name: 'difficulty-estimator' }));

  const validated = ppo.history.filter((h) => h.validation);
  const curve = validated.map((h) => penalisedCost(h.validation!, targets));
  const convergedAt = validated[convergenceIteration(curve, CONVERGENCE.tolerance, CONVERGENCE.tail)]?.iteration ?? config.ppo.iterations;
  const training = {
    workload: config.workload,
    config: values.config,
    seed: config.seed,
    seconds: (Date.now() - started) / 1000,
    traces: { train_rows: trace.labels.length, policy_train_rows: trainRows.length, validation_rows: validationRows.length, heldout_rows: traces.heldout.rows.labels.length },
    service_model: { cores: env.model.cores, client_cpu_ms: env.model.clientCpuMs, router_cpu_ms: env.model.routerCpuMs, variant_cpu_ms: Object.fromEntries(ROLES.map((role) => [role, env.model.variants[role].cpuMs])), distilled_in_router_cpu_ms: env.model.distilledInRouterCpuMs ?? null, relative_cost: env.costs },
    targets,
    estimator: { settings: config.estimator, validation_loss: estimator.validationLoss, heldout_calibration: estimatorCalibration },
    selection_ceiling: ceiling,
    ppo: { seconds: ppoSeconds, convergence_epochs: convergedAt, convergence_rule: 'first validation after which every later one is within 10% of the mean of the last three (penalised validation cost)', history: ppo.history },
    cost_sensitive: { seconds: cscSeconds, epochs_per_fit: config.costSensitive.epochs, fits: csc.search.length, correctness_weight: csc.correctnessWeight, search: csc.search },
    contenders: contenders.map((c) => ({ name: c.name, validation: c.validation })),
    shipped: chosen.name,
  };
  writeFileSync(path.join(output, 'training.json'), `${JSON.stringify(training, null, 2)}\n`);
  const reports = path.join(ROOT, 'reports');
  mkdirSync(reports, { recursive: true });
  writeFileSync(
    path.join(reports, 'policy-training.svg'),
    renderChart({
      title: `PPO-Lagrangian training on ${config.workload} (simulated episodes)`,
      xLabel: 'iteration',
      panels: [
        { title: 'accuracy', yLabel: '%', series: [{ name: 'train', color: '#1f77b4', points: ppo.history.map((h) => [h.iteration, h.train.accuracy * 100]) }, { name: 'validation (greedy)', color: '#d62728', points: validated.map((h) => [h.iteration, h.validation!.accuracy * 100]), style: 'dots' }], hlines: [{ y: targets.accuracy * 100, label: 'constraint', color: '#999' }] },
        { title: 'relative CPU cost', yLabel: 'x full', series: [{ name: 'train', color: '#1f77b4', points: ppo.history.map((h) => [h.iteration, h.train.meanCost]) }, { name: 'validation (greedy)', color: '#d62728', points: validated.map((h) => [h.iteration, h.validation!.meanCost]), style: 'dots' }] },
        { title: 'Lagrange multipliers', yLabel: 'lambda', series: [{ name: 'accuracy', color: '#2ca02c', points: ppo.history.map((h) => [h.iteration, h.multipliers.accuracy]) }, { name: 'SLA', color: '#9467bd', points: ppo.history.map((h) => [h.iteration, h.multipliers.sla]) }] },
      ],
      markers: [{ x: convergedAt, label: 'converged', color: '#555' }],
    }),
  );
  log(`wrote ${path.relative(ROOT, output)}/ (policy.onnx = ${chosen.name}) and reports/policy-training.svg in ${training.seconds.toFixed(0)} s; PPO converged at iteration ${convergedAt}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    log(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    process.exitCode = 1;
  });
}
