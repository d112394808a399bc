// The constrained objective and the arithmetic PPO needs, pure so each piece is unit-tested.
//
// Maximise -cost subject to accuracy >= target and SLA-violation rate <= limit. The Lagrangian
// gives the per-request reward
//     r = -costWeight * cost(role) + lambdaAccuracy * correct - lambdaSla * overBudget
// and the multipliers follow dual ascent: each grows while its constraint is violated and shrinks
// (never below 0) while it holds, so the policy is pushed exactly as hard as the constraints need
// rather than by hand-tuned weights (the prototype's weights let it collapse onto one variant).
export interface Multipliers {
  accuracy: number;
  sla: number;
}

export interface Outcome {
  cost: number;
  correct: boolean;
  overBudget: boolean;
}

export function lagrangianReward(outcome: Outcome, multipliers: Multipliers, costWeight: number): number {
  return -costWeight * outcome.cost + multipliers.accuracy * (outcome.correct ? 1 : 0) - multipliers.sla * (outcome.overBudget ? 1 : 0);
}

export interface ConstraintTargets {
  /** Accuracy the policy must reach. */
  accuracy: number;
  /** Largest share of requests over the latency budget. */
  slaViolationRate: number;
}

export interface EpisodeStats {
  accuracy: number;
  slaViolationRate: number;
}

/**
 * One dual-ascent step, scaled so a one-point shortfall moves a multiplier by `lr`, kept within
 * [0, max]: an episode no policy can satisfy (a burst beyond the machine's capacity) must not wind
 * a multiplier up without bound and drown every other signal for the rest of training.
 */
export function updateMultipliers(current: Multipliers, stats: EpisodeStats, targets: ConstraintTargets, lr: number, max = 100): Multipliers {
  const clamp = (x: number) => Math.min(max, Math.max(0, x));
  return {
    accuracy: clamp(current.accuracy + lr * 100 * (targets.accuracy - stats.accuracy)),
    sla: clamp(current.sla + lr * 100 * (stats.slaViolationRate - targets.slaViolationRate)),
  };
}

/**
 * Generalised advantage estimation over one trajectory: A_t = sum_k (gamma lambda)^k delta_{t+k},
 * delta_t = r_t + gamma V(s_{t+1}) - V(s_t), with V after the last step taken as `lastValue`.
 * Returns advantages and returns (= advantages + values, the value targets).
 */
export function gae(rewards: ArrayLike<number>, values: ArrayLike<number>, gamma: number, lambda: number, lastValue = 0): { advantages: Float64Array; returns: Float64Array } {
  const n = rewards.length;
  if (values.length !== n) throw new RangeError(`values (${values.length}) and rewards (${n}) must have the same length`);
  const advantages = new Float64Array(n);
  const returns = new Float64Array(n);
  let running = 0;
  for (let t = n - 1; t >= 0; t--) {
    const next = t === n - 1 ? lastValue : values[t + 1]!;
    const delta = rewards[t]! + gamma * next - values[t]!;
    running = delta + gamma * lambda * running;
    advantages[t] = running;
    returns[t] = running + values[t]!;
  }
  return { advantages, returns };
}

/** Mean 0, standard deviation 1 (unchanged when the spread is ~0). */
export function standardize(values: Float64Array): Float64Array {
  const n = values.length;
  if (n === 0) return values;
  let mean = 0;
  for (const v of values) mean += v / n;
  let variance = 0;
  for (const v of values) variance += (v - mean) ** 2 / n;
  const std = Math.sqrt(variance);
  return values.map((v) => (std > 1e-8 ? (v - mean) / std : v - mean));
}

/** Running variance of rewards (Welford), to scale rewards to unit spread across iterations. */
export class RunningScale {
  private count = 0;
  private mean = 0;
  private m2 = 0;

  update(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      this.count++;
      const delta = v - this.mean;
      this.mean += delta / this.count;
      this.m2 += delta * (v - this.mean);
    }
  }

  get std(): number {
    return this.count > 1 ? Math.sqrt(this.m2 / (this.count - 1)) : 1;
  }

  scale(value: number): number {
    return value / Math.max(1e-6, this.std);
  }
}

/**
 * PPO's clipped surrogate for one sample, as a loss to minimise, and its gradient with respect to
 * the new log-probability: -min(ratio A, clip(ratio, 1-eps, 1+eps) A).
 */
export function clippedSurrogate(newLogProb: number, oldLogProb: number, advantage: number, clip: number): { loss: number; gradLogProb: number } {
  const ratio = Math.exp(newLogProb - oldLogProb);
  const unclipped = ratio * advantage;
  const clipped = Math.min(Math.max(ratio, 1 - clip), 1 + clip) * advantage;
  if (unclipped <= clipped) return { loss: -unclipped, gradLogProb: -unclipped };
  // On the clipped branch the objective is flat in the ratio: no gradient.
  return { loss: -clipped, gradLogProb: 0 };
}

/**
 * First index from which every later value stays within `tolerance` (relative) of the plateau:
 * the mean of the last `tail` values (one noisy last value must not decide it).
 */
export function convergenceIteration(values: readonly number[], tolerance: number, tail = 1): number {
  if (values.length === 0) return 0;
  const last = values.slice(-Math.max(1, tail));
  const final = last.reduce((a, b) => a + b, 0) / last.length;
  const band = Math.abs(final) * tolerance + 1e-12;
  let first = values.length - 1;
  for (let i = values.length - 1; i >= 0; i--) {
    if (Math.abs(values[i]! - final) > band) break;
    first = i;
  }
  return first;
}
