// Baseline after FrugalGPT's LLM cascade: serve with the cheapest allowed role, and while the
// answer's top-class probability is below the threshold ask the next more costly role, up to full
// (the most accurate variant; roles costlier than it are fallbacks only). The policy only plans:
// the decision carries the escalation chain and the router does the escalating.
import type { Role } from '../../crds/types.js';
import { byRelativeCost, candidateRoles } from './candidates.js';
import type { Policy, PolicyDecision, PolicyInput } from './policy.js';
import type { VariantProfiles } from './variant-profile.js';

export const DEFAULT_CONFIDENCE_THRESHOLD = 0.9;

export class ThresholdCascadePolicy implements Policy {
  readonly type = 'threshold-cascade';

  constructor(
    private readonly profiles: VariantProfiles,
    readonly confidenceThreshold = DEFAULT_CONFIDENCE_THRESHOLD,
  ) {
    if (!(confidenceThreshold > 0 && confidenceThreshold < 1)) {
      throw new RangeError(`confidenceThreshold must be in (0, 1), got ${confidenceThreshold}`);
    }
  }

  decide(input: PolicyInput): PolicyDecision {
    const ranked: readonly Role[] = byRelativeCost(candidateRoles(input.allowed), this.profiles);
    const full = ranked.indexOf('full');
    const chain = full >= 0 ? ranked.slice(0, full + 1) : ranked;
    return {
      role: ranked[0]!,
      ranked,
      reason: 'threshold-cascade',
      escalation: { chain, belowConfidence: this.confidenceThreshold },
    };
  }
}
