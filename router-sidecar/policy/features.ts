// The learned policy's input vector: a fixed order (FEATURE_NAMES) that training and serving
// share, every value squashed into [0, 1].
//
//   difficulty              the request's difficulty estimate, clamped to [0, 1]
//   latency_budget          budget / (budget + 50 ms)
//   min_accuracy            the accuracy floor itself
//   <role>_p_correct        the estimated probability that the role answers correctly, for each
//                           role in ROLES order (1 - difficulty when no estimator is loaded)
// then for each role in ROLES order:
//   <role>_in_flight        n / (n + 4)
//   <role>_latency          r / (1 + r), r = EWMA latency / budget (0.5 means "at the budget")
//   <role>_error_rate       EWMA failure rate
//   <role>_queue_depth      q / (q + 4)
//   <role>_cpu              pod CPU utilisation clamped to [0, 1]
//   <role>_signals_missing  fraction of {latency, queue depth, CPU} unknown or stale; each
//                           missing value above is encoded as 0
import { ROLES } from '../../crds/types.js';
import { effectiveSla, type PolicyInput } from './policy.js';

const PER_ROLE = ['in_flight', 'latency', 'error_rate', 'queue_depth', 'cpu', 'signals_missing'] as const;

export const FEATURE_NAMES: readonly string[] = [
  'difficulty',
  'latency_budget',
  'min_accuracy',
  ...ROLES.map((role) => `${role}_p_correct`),
  ...ROLES.flatMap((role) => PER_ROLE.map((name) => `${role}_${name}`)),
];

export const FEATURE_COUNT = FEATURE_NAMES.length;

const LATENCY_SCALE_MS = 50;
const COUNT_SCALE = 4;

const clamp01 = (x: number): number => (x > 1 ? 1 : x > 0 ? x : 0);
/** [0, ∞) -> [0, 1), 0.5 at `scale`. */
const squash = (x: number, scale: number): number => (x > 0 ? x / (x + scale) : 0);

/** Writes into `out` when given (to avoid an allocation per request) and returns it. */
export function policyFeatures(input: PolicyInput, out: Float32Array = new Float32Array(FEATURE_COUNT)): Float32Array {
  if (out.length !== FEATURE_COUNT) throw new RangeError(`feature buffer must hold ${FEATURE_COUNT} values, got ${out.length}`);
  const { latencyBudgetMs, minAccuracy } = effectiveSla(input.sla, input.hints);
  out[0] = clamp01(input.difficulty);
  out[1] = squash(latencyBudgetMs, LATENCY_SCALE_MS);
  out[2] = clamp01(minAccuracy);
  let i = 3;
  for (let r = 0; r < ROLES.length; r++) out[i++] = clamp01(input.correctness?.[r] ?? 1 - input.difficulty);
  for (const role of ROLES) {
    const load = input.load[role];
    let missing = 0;
    out[i++] = squash(load.inFlight, COUNT_SCALE);
    if (load.latencyMs === undefined) missing++;
    out[i++] = load.latencyMs === undefined ? 0 : squash(load.latencyMs / latencyBudgetMs, 1);
    out[i++] = clamp01(load.errorRate);
    if (load.queueDepth === undefined) missing++;
    out[i++] = load.queueDepth === undefined ? 0 : squash(load.queueDepth, COUNT_SCALE);
    if (load.cpuUtilization === undefined) missing++;
    out[i++] = load.cpuUtilization === undefined ? 0 : clamp01(load.cpuUtilization);
    out[i++] = missing / 3;
  }
  return out;
}
