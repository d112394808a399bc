// The policy training and evaluation config (configs/default.yaml): every knob, validated once,
// each error naming the file and the field path.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Activation } from './nn.js';

export class PolicyConfigError extends Error {
  override name = 'PolicyConfigError';
}

export interface NetworkSettings {
  hidden: number[];
  activation: Activation;
}

export interface PolicyConfig {
  workload: string;
  seed: number;
  output: string;
  /** The router answers distilled itself (policy.distilledInRouter): the simulator and the evaluation model it so. */
  distilledInRouter: boolean;
  sla: { p99LatencyMs: number; minAccuracy: number; trainLatencyBudgetsMs: number[] };
  objective: { maxAccuracyDrop: number; maxSlaViolationRate: number; costWeight: number };
  estimator: NetworkSettings & { epochs: number; lr: number; batch: number };
  ppo: NetworkSettings & {
    iterations: number;
    episodesPerIteration: number;
    requestsPerEpisode: number;
    rateRange: [number, number];
    burstyShare: number;
    lr: number;
    gamma: number;
    gaeLambda: number;
    clip: number;
    updateEpochs: number;
    minibatch: number;
    entropyCoef: number;
    valueCoef: number;
    maxGradNorm: number;
    dualLr: number;
    initialMultipliers: { accuracy: number; sla: number };
    validationEvery: number;
  };
  costSensitive: NetworkSettings & { epochs: number; lr: number; batch: number; bisectionSteps: number };
  evaluation: { steadyRate: number; burstyRate: number; requests: number; seeds: number[]; throughputRates: number[]; throughputRepeats: number };
}

type Fields = Record<string, unknown>;

class Section {
  constructor(
    private readonly source: string,
    private readonly fields: Fields,
    private readonly prefix: string,
  ) {}

  private path(field: string): string {
    return this.prefix ? `${this.prefix}.${field}` : field;
  }

  fail(field: string, problem: string): never {
    throw new PolicyConfigError(`${this.source}: ${this.path(field)} ${problem}`);
  }

  section(field: string): Section {
    const value = this.fields[field];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, `must be a mapping, got ${JSON.stringify(value) ?? 'nothing'}`);
    return new Section(this.source, value as Fields, this.path(field));
  }

  number(field: string, min: number, max = Infinity, { integer = false, exclusiveMin = false } = {}): number {
    const value = this.fields[field];
    const ok = typeof value === 'number' && Number.isFinite(value) && (exclusiveMin ? value > min : value >= min) && value <= max && (!integer || Number.isInteger(value));
    if (!ok) {
      const kind = integer ? 'an integer' : 'a number';
      const range = max === Infinity ? `${exclusiveMin ? '>' : '>='} ${min}` : `in ${exclusiveMin ? '(' : '['}${min}, ${max}]`;
      this.fail(field, `must be ${kind} ${range}, got ${JSON.stringify(value) ?? 'nothing'}`);
    }
    return value as number;
  }

  numbers(field: string, min: number, { integer = false, length }: { integer?: boolean; length?: number } = {}): number[] {
    const value = this.fields[field];
    if (!Array.isArray(value) || value.length === 0 || (length !== undefined && value.length !== length)) {
      this.fail(field, `must be a list of ${length ?? 'one or more'} numbers, got ${JSON.stringify(value) ?? 'nothing'}`);
    }
    value.forEach((item, i) => {
      if (typeof item !== 'number' || !Number.isFinite(item) || item < min || (integer && !Number.isInteger(item))) {
        this.fail(`${field}[${i}]`, `must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(item)}`);
      }
    });
    return value as number[];
  }

  boolean(field: string): boolean {
    const value = this.fields[field];
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(value) ?? 'nothing'}`);
    return value;
  }

  string(field: string): string {
    const value = this.fields[field];
    if (typeof value !== 'string' || value === '') this.fail(field, `must be a non-empty string, got ${JSON.stringify(value) ?? 'nothing'}`);
    return value;
  }

  activation(field: string): Activation {
    const value = this.fields[field];
    if (value !== 'tanh' && value !== 'relu') this.fail(field, `must be tanh or relu, got ${JSON.stringify(value) ?? 'nothing'}`);
    return value;
  }

  network(): NetworkSettings {
    return { hidden: this.numbers('hidden', 1, { integer: true }), activation: this.activation('activation') };
  }
}

export function parsePolicyConfig(text: string, source: string): PolicyConfig {
  let document: unknown;
  try {
    document = parse(text);
  } catch (err) {
    throw new PolicyConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new PolicyConfigError(`${source}: must be a YAML mapping`);
  const root = new Section(source, document as Fields, '');
  const sla = root.section('sla');
  const objective = root.section('objective');
  const estimator = root.section('estimator');
  const ppo = root.section('ppo');
  const csc = root.section('costSensitive');
  const evaluation = root.section('evaluation');
  const multipliers = ppo.section('initialMultipliers');
  const rateRange = ppo.numbers('rateRange', 1, { length: 2 }) as [number, number];
  if (rateRange[1] < rateRange[0]) ppo.fail('rateRange', `must be [low, high] with low <= high, got [${rateRange.join(', ')}]`);
  const config: PolicyConfig = {
    workload: root.string('workload'),
    seed: root.number('seed', 0, 2 ** 31, { integer: true }),
    output: root.string('output'),
    distilledInRouter: root.boolean('distilledInRouter'),
    sla: {
      p99LatencyMs: sla.number('p99LatencyMs', 0, Infinity, { exclusiveMin: true }),
      minAccuracy: sla.number('minAccuracy', 0, 1, { exclusiveMin: true }),
      trainLatencyBudgetsMs: sla.numbers('trainLatencyBudgetsMs', 1),
    },
    objective: {
      maxAccuracyDrop: objective.number('maxAccuracyDrop', 0, 1),
      maxSlaViolationRate: objective.number('maxSlaViolationRate', 0, 1),
      costWeight: objective.number('costWeight', 0),
    },
    estimator: { ...estimator.network(), epochs: estimator.number('epochs', 1, 10_000, { integer: true }), lr: estimator.number('lr', 0, 1, { exclusiveMin: true }), batch: estimator.number('batch', 1, 1e6, { integer: true }) },
    ppo: {
      ...ppo.network(),
      iterations: ppo.number('iterations', 1, 100_000, { integer: true }),
      episodesPerIteration: ppo.number('episodesPerIteration', 1, 1000, { integer: true }),
      requestsPerEpisode: ppo.number('requestsPerEpisode', 16, 1e6, { integer: true }),
      rateRange,
      burstyShare: ppo.number('burstyShare', 0, 1),
      lr: ppo.number('lr', 0, 1, { exclusiveMin: true }),
      gamma: ppo.number('gamma', 0, 1),
      gaeLambda: ppo.number('gaeLambda', 0, 1),
      clip: ppo.number('clip', 0, 1, { exclusiveMin: true }),
      updateEpochs: ppo.number('updateEpochs', 1, 100, { integer: true }),
      minibatch: ppo.number('minibatch', 1, 1e6, { integer: true }),
      entropyCoef: ppo.number('entropyCoef', 0),
      valueCoef: ppo.number('valueCoef', 0),
      maxGradNorm: ppo.number('maxGradNorm', 0, Infinity, { exclusiveMin: true }),
      dualLr: ppo.number('dualLr', 0),
      initialMultipliers: { accuracy: multipliers.number('accuracy', 0), sla: multipliers.number('sla', 0) },
      validationEvery: ppo.number('validationEvery', 1, 1e6, { integer: true }),
    },
    costSensitive: {
      ...csc.network(),
      epochs: csc.number('epochs', 1, 10_000, { integer: true }),
      lr: csc.number('lr', 0, 1, { exclusiveMin: true }),
      batch: csc.number('batch', 1, 1e6, { integer: true }),
      bisectionSteps: csc.number('bisectionSteps', 1, 100, { integer: true }),
    },
    evaluation: {
      steadyRate: evaluation.number('steadyRate', 0, Infinity, { exclusiveMin: true }),
      burstyRate: evaluation.number('burstyRate', 0, Infinity, { exclusiveMin: true }),
      requests: evaluation.number('requests', 100, 1e7, { integer: true }),
      seeds: evaluation.numbers('seeds', 0, { integer: true }),
      throughputRates: evaluation.numbers('throughputRates', 1),
      throughputRepeats: evaluation.number('throughputRepeats', 1, 100, { integer: true }),
    },
  };
  return config;
}

export function loadPolicyConfig(file: string): PolicyConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyConfigError(`${file}: cannot read the config: ${(err as Error).message}`);
  }
  return parsePolicyConfig(text, file);
}
