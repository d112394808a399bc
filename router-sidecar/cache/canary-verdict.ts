// Whether a canary cache policy should replace the current one: a pure function of what each arm
// saw on its share of the same traffic (sessions are split between the arms by their prefix, so
// each arm's cache lives as it would alone).
//
// Drift risk of an arm = share of its sampled would-be hits whose cached embedding diverged from the
// fresh one beyond the drift threshold. The canary is promotable when, with 95% confidence (Wilson
// upper bound), its risk is within maxRisk, and it reuses at least as much as the current policy
// (hit rate within `hitRateTolerance`) or the current policy is itself over maxRisk (lower bound).
import { wilsonInterval } from '../../common/wilson.js';

export interface ArmCounts {
  /** Requests served through this arm with caching possible (single rows). */
  requests: number;
  /** Of those, answered from a cached embedding. */
  hits: number;
  /** Sampled would-be hits compared with a fresh computation. */
  samples: number;
  /** Of those, diverging beyond the threshold. */
  drifted: number;
}

export type CanaryVerdict = 'collecting' | 'promote' | 'keep-current';

export interface VerdictRule {
  maxRisk: number;
  /** Samples each arm needs before a verdict. */
  minSamples: number;
  hitRateTolerance: number;
}

export const DEFAULT_MAX_RISK = 0.05;
export const DEFAULT_VERDICT_RULE: VerdictRule = { maxRisk: DEFAULT_MAX_RISK, minSamples: 100, hitRateTolerance: 0.01 };

export interface ArmSummary extends ArmCounts {
  hitRate: number;
  risk: number;
  riskLower: number;
  riskUpper: number;
}

export interface CanaryComparison {
  verdict: CanaryVerdict;
  reason: string;
  current: ArmSummary;
  canary: ArmSummary;
}

export function summarizeArm(counts: ArmCounts): ArmSummary {
  const [riskLower, riskUpper] = wilsonInterval(counts.drifted, counts.samples);
  return {
    ...counts,
    hitRate: counts.requests > 0 ? counts.hits / counts.requests : 0,
    risk: counts.samples > 0 ? counts.drifted / counts.samples : 0,
    riskLower,
    riskUpper,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function compareArms(currentCounts: ArmCounts, canaryCounts: ArmCounts, rule: VerdictRule = DEFAULT_VERDICT_RULE): CanaryComparison {
  const current = summarizeArm(currentCounts);
  const canary = summarizeArm(canaryCounts);
  const result = (verdict: CanaryVerdict, reason: string): CanaryComparison => ({ verdict, reason, current, canary });
  if (current.samples < rule.minSamples || canary.samples < rule.minSamples) {
    return result('collecting', `${canary.samples} canary and ${current.samples} current samples of the ${rule.minSamples} each needs`);
  }
  const risks = `drift risk ${pct(canary.risk)} (upper ${pct(canary.riskUpper)}) vs ${pct(current.risk)}`;
  const hits = `hit rate ${pct(canary.hitRate)} vs ${pct(current.hitRate)}`;
  if (canary.riskUpper > rule.maxRisk) return result('keep-current', `canary ${risks} exceeds maxRisk ${pct(rule.maxRisk)}`);
  if (current.riskLower > rule.maxRisk) return result('promote', `current policy is over maxRisk ${pct(rule.maxRisk)} and the canary is within it: ${risks}, ${hits}`);
  if (canary.hitRate + rule.hitRateTolerance < current.hitRate) return result('keep-current', `canary reuses less: ${hits}, ${risks}`);
  return result('promote', `canary is within maxRisk ${pct(rule.maxRisk)} and reuses at least as much: ${hits}, ${risks}`);
}
