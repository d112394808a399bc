// The training environment: episodes of trace rows replayed through the simulator at a sampled
// load, with the router's own feature code producing what the policy sees.
import { ROLES, type Role, type SlaSpec } from '../../crds/types.js';
import { FEATURE_COUNT, FEATURE_NAMES, policyFeatures } from '../../router-sidecar/policy/features.js';
import type { PolicyInput } from '../../router-sidecar/policy/policy.js';
import { seededRandom, type Random } from '../../common/random.js';
import { predictCorrectness } from './estimator.js';
import type { PolicyConfig } from './config.js';
import type { Mlp } from './nn.js';
import type { ConstraintTargets } from './objective.js';
import type { Signals } from './signals.js';
import { arrivalTimes, simulate, type ArrivalPattern, type RowEstimates, type ServiceModel, type SimulatedPolicy, type SimulatedRequest } from './simulator.js';
import type { TraceRows } from './trace.js';

/** What every policy trainer is given. */
export interface TrainingRun {
  env: Environment;
  config: PolicyConfig;
  /** Rows of the trace used for training episodes. */
  trainRows: readonly number[];
  /** Fixed episodes (on held-back rows) that judge a greedy policy. */
  validation: readonly EpisodeSpec[];
  targets: ConstraintTargets;
  /** Ablations: false drops that feature. */
  inputMask?: boolean[];
  seed: number;
}

export interface Environment {
  trace: TraceRows;
  model: ServiceModel;
  /** Per-row estimator output, computed once. */
  estimates: RowEstimates[];
  /** CPU cost of each role relative to full (full = 1). */
  costs: Record<Role, number>;
}

export function buildEnvironment(trace: TraceRows, model: ServiceModel, estimator: Mlp, signals: Signals): Environment {
  const rows = trace.labels.length;
  const p = predictCorrectness(estimator, signals.values, rows);
  const estimates: RowEstimates[] = Array.from({ length: rows }, (_, r) => {
    const correctness = ROLES.map((_, k) => p[r * ROLES.length + k]!);
    return { difficulty: difficultyFromCorrectness(correctness), correctness };
  });
  return { trace, model, estimates, costs: relativeCosts(model) };
}

/** CPU per request of each role relative to full's; distilled at the router's run when the router answers it. */
export function relativeCosts(model: ServiceModel): Record<Role, number> {
  const cpuMs = (role: Role) => (role === 'distilled' && model.distilledInRouterCpuMs !== undefined ? model.distilledInRouterCpuMs : model.variants[role].cpuMs);
  return Object.fromEntries(ROLES.map((role) => [role, cpuMs(role) / model.variants.full.cpuMs])) as Record<Role, number>;
}

/** The router's difficulty when an estimator is loaded: how likely an average variant is to be wrong. */
export function difficultyFromCorrectness(correctness: readonly number[]): number {
  return 1 - correctness.reduce((a, b) => a + b, 0) / correctness.length;
}

export interface EpisodeSpec {
  rows: readonly number[];
  rate: number;
  pattern: ArrivalPattern;
  sla: SlaSpec;
  seed: number;
}

export function sampleEpisode(candidates: readonly number[], length: number, rateRange: readonly [number, number], burstyShare: number, budgets: readonly number[], minAccuracy: number, random: Random): EpisodeSpec {
  const rows = Array.from({ length }, () => candidates[random.int(candidates.length)]!);
  return {
    rows,
    rate: rateRange[0] + random.next() * (rateRange[1] - rateRange[0]),
    pattern: random.next() < burstyShare ? 'bursty' : 'steady',
    sla: { p99LatencyMs: budgets[random.int(budgets.length)]!, minAccuracy },
    seed: random.int(2 ** 31),
  };
}

export function runEpisode(env: Environment, episode: EpisodeSpec, policy: SimulatedPolicy): SimulatedRequest[] {
  return simulate({
    trace: env.trace,
    model: env.model,
    rows: episode.rows,
    arrivals: arrivalTimes(episode.rows.length, episode.rate, episode.pattern, seededRandom(episode.seed)),
    sla: episode.sla,
    estimates: (row) => env.estimates[row]!,
    policy,
    seed: episode.seed + 1,
  });
}

export type FeatureGroup = 'difficulty' | 'load' | 'sla';

/** Which features each ablation removes. */
export function featureMask(without: readonly FeatureGroup[]): boolean[] {
  const drop = (name: string): boolean =>
    (without.includes('difficulty') && (name === 'difficulty' || name.endsWith('_p_correct'))) ||
    (without.includes('sla') && (name === 'latency_budget' || name === 'min_accuracy')) ||
    (without.includes('load') && !['difficulty', 'latency_budget', 'min_accuracy'].includes(name) && !name.endsWith('_p_correct'));
  return FEATURE_NAMES.map((name) => !drop(name));
}

/** A deterministic policy from a network scoring each role: the router's argmax. */
export function greedyPolicy(network: Mlp): SimulatedPolicy {
  const buffer = new Float32Array(FEATURE_COUNT);
  const x = new Float64Array(FEATURE_COUNT);
  return (input: PolicyInput) => {
    policyFeatures(input, buffer);
    for (let i = 0; i < FEATURE_COUNT; i++) x[i] = buffer[i]!;
    const scores = network.forward(x, 1).output;
    let best = 0;
    for (let k = 1; k < ROLES.length; k++) if (scores[k]! > scores[best]!) best = k;
    return ROLES[best]!;
  };
}
