// PPO with GAE on the simulator, with the prototype's failure fixed: the SLA and accuracy
// requirements are constraints with Lagrange multipliers (objective.ts), rewards are scaled by a
// running standard deviation, an entropy bonus keeps the policy from collapsing early, and load
// and SLA are in the state (router-sidecar/policy/features.ts).
import { ROLES } from '../../crds/types.js';
import { FEATURE_COUNT, policyFeatures } from '../../router-sidecar/policy/features.js';
import { seededRandom } from '../../common/random.js';
import type { PolicyConfig } from './config.js';
import { greedyPolicy, runEpisode, sampleEpisode, type Environment, type EpisodeSpec, type TrainingRun } from './environment.js';
import { Adam, logSoftmaxRows, minibatches, Mlp } from './nn.js';
import { clippedSurrogate, gae, lagrangianReward, RunningScale, standardize, updateMultipliers, type ConstraintTargets, type Multipliers } from './objective.js';
import { summarize, type SimulationSummary } from './simulator.js';

export interface PpoIteration {
  iteration: number;
  multipliers: Multipliers;
  train: { accuracy: number; slaViolationRate: number; meanCost: number; entropy: number; shares: Record<string, number> };
  /** Greedy policy on the fixed validation episodes, every `validationEvery` iterations. */
  validation?: ValidationResult;
}

export interface PpoResult {
  policy: Mlp;
  history: PpoIteration[];
}

interface Step {
  features: Float64Array;
  action: number;
  logProb: number;
  value: number;
}

export interface PpoOptions extends TrainingRun {
  onIteration?: (record: PpoIteration) => void;
}

export interface ValidationResult {
  accuracy: number;
  slaViolationRate: number;
  meanCost: number;
  feasible: boolean;
}

export function meanCost(env: Environment, summary: SimulationSummary): number {
  return ROLES.reduce((sum, role) => sum + summary.shares[role] * env.costs[role], 0);
}

export function validate(env: Environment, policy: Mlp, episodes: readonly EpisodeSpec[], targets: ConstraintTargets): ValidationResult {
  let accuracy = 0;
  let violations = 0;
  let cost = 0;
  for (const episode of episodes) {
    const summary = summarize(runEpisode(env, episode, greedyPolicy(policy)), episode.sla);
    accuracy += summary.accuracy / episodes.length;
    violations += summary.slaViolationRate / episodes.length;
    cost += meanCost(env, summary) / episodes.length;
  }
  return { accuracy, slaViolationRate: violations, meanCost: cost, feasible: accuracy >= targets.accuracy && violations <= targets.slaViolationRate };
}

export function trainPpo(options: PpoOptions): PpoResult {
  const { env, config, targets } = options;
  const settings = config.ppo;
  const random = seededRandom(options.seed);
  const policy = new Mlp({ sizes: [FEATURE_COUNT, ...settings.hidden, ROLES.length], hidden: settings.activation, outputGain: 0.01 }, random);
  const value = new Mlp({ sizes: [FEATURE_COUNT, ...settings.hidden, 1], hidden: settings.activation }, random);
  if (options.inputMask) {
    policy.maskInputs(options.inputMask);
    value.maskInputs(options.inputMask);
  }
  const policyOptimizer = new Adam(policy.parameters(), { lr: settings.lr, maxGradNorm: settings.maxGradNorm });
  const valueOptimizer = new Adam(value.parameters(), { lr: settings.lr * 3, maxGradNorm: settings.maxGradNorm });
  let multipliers: Multipliers = { ...settings.initialMultipliers };
  const rewardScale = new RunningScale();
  const history: PpoIteration[] = [];
  const featureBuffer = new Float32Array(FEATURE_COUNT);

  for (let iteration = 1; iteration <= settings.iterations; iteration++) {
    const steps: Step[] = [];
    const advantages: number[] = [];
    const returns: number[] = [];
    let accuracy = 0;
    let violations = 0;
    let cost = 0;
    const shares = Object.fromEntries(ROLES.map((role) => [role, 0]));
    for (let e = 0; e < settings.episodesPerIteration; e++) {
      const episode = sampleEpisode(options.trainRows, settings.requestsPerEpisode, settings.rateRange, settings.burstyShare, config.sla.trainLatencyBudgetsMs, config.sla.minAccuracy, random);
      // Decisions in the order the router makes them, mapped to the request they were for.
      const episodeSteps: Step[] = [];
      const decisionOf: number[] = [];
      const results = runEpisode(env, episode, (input, _row, sequence) => {
        const features = Float64Array.from(policyFeatures(input, featureBuffer));
        const logits = policy.forward(features, 1).output;
        const logProbs = logSoftmaxRows(logits, 1, ROLES.length);
        let u = random.next();
        let action = ROLES.length - 1;
        for (let k = 0; k < ROLES.length; k++) {
          u -= Math.exp(logProbs[k]!);
          if (u <= 0) {
            action = k;
            break;
          }
        }
        decisionOf[sequence] = episodeSteps.length;
        episodeSteps.push({ features, action, logProb: logProbs[action]!, value: value.forward(features, 1).output[0]! });
        return ROLES[action]!;
      });
      const rewards = new Float64Array(episodeSteps.length);
      results.forEach((request, sequence) => {
        const outcome = { cost: env.costs[request.chosen], correct: request.correct, overBudget: request.latencyMs > episode.sla.p99LatencyMs };
        rewards[decisionOf[sequence]!] = lagrangianReward(outcome, multipliers, config.objective.costWeight);
      });
      rewardScale.update(rewards);
      const scaled = rewards.map((r) => rewardScale.scale(r));
      const estimate = gae(scaled, episodeSteps.map((s) => s.value), settings.gamma, settings.gaeLambda);
      steps.push(...episodeSteps);
      advantages.push(...estimate.advantages);
      returns.push(...estimate.returns);
      const summary = summarize(results, episode.sla);
      accuracy += summary.accuracy / settings.episodesPerIteration;
      violations += summary.slaViolationRate / settings.episodesPerIteration;
      cost += meanCost(env, summary) / settings.episodesPerIteration;
      for (const role of ROLES) shares[role]! += summary.shares[role] / settings.episodesPerIteration;
    }
    const entropy = update(policy, value, policyOptimizer, valueOptimizer, steps, standardize(Float64Array.from(advantages)), Float64Array.from(returns), settings, random);
    multipliers = updateMultipliers(multipliers, { accuracy, slaViolationRate: violations }, targets, settings.dualLr);
    const record: PpoIteration = { iteration, multipliers, train: { accuracy, slaViolationRate: violations, meanCost: cost, entropy, shares } };
    if (iteration % settings.validationEvery === 0 || iteration === settings.iterations) record.validation = validate(env, policy, options.validation, targets);
    history.push(record);
    options.onIteration?.(record);
  }
  return { policy, history };
}

/** PPO's update epochs over one batch of steps; returns the mean policy entropy. */
function update(policy: Mlp, value: Mlp, policyOptimizer: Adam, valueOptimizer: Adam, steps: Step[], advantages: Float64Array, returns: Float64Array, settings: PolicyConfig['ppo'], random: ReturnType<typeof seededRandom>): number {
  const width = FEATURE_COUNT;
  const actions = ROLES.length;
  let entropySum = 0;
  let entropyCount = 0;
  for (let epoch = 0; epoch < settings.updateEpochs; epoch++) {
    for (const { indices: batch, x } of minibatches(steps.length, width, settings.minibatch, random, (i) => steps[i]!.features)) {
      const n = batch.length;
      const policyForward = policy.forward(x, n);
      const logProbs = logSoftmaxRows(policyForward.output, n, actions);
      const gradLogits = new Float64Array(n * actions);
      const valueForward = value.forward(x, n);
      const gradValue = new Float64Array(n);
      batch.forEach((i, r) => {
        const step = steps[i]!;
        const { gradLogProb } = clippedSurrogate(logProbs[r * actions + step.action]!, step.logProb, advantages[i]!, settings.clip);
        let entropy = 0;
        for (let k = 0; k < actions; k++) {
          const lp = logProbs[r * actions + k]!;
          entropy -= Math.exp(lp) * lp;
        }
        entropySum += entropy;
        entropyCount++;
        for (let k = 0; k < actions; k++) {
          const lp = logProbs[r * actions + k]!;
          const p = Math.exp(lp);
          // d logp(a) / d logit_k = [k = a] - p_k; d(-H) / d logit_k = p_k (log p_k + H).
          gradLogits[r * actions + k] = (gradLogProb * ((k === step.action ? 1 : 0) - p) + settings.entropyCoef * p * (lp + entropy)) / n;
        }
        gradValue[r] = (2 * settings.valueCoef * (valueForward.output[r]! - returns[i]!)) / n;
      });
      policyOptimizer.step(policy.backward(policyForward, gradLogits));
      valueOptimizer.step(value.backward(valueForward, gradValue));
    }
  }
  return entropySum / Math.max(1, entropyCount);
}
