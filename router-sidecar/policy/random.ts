// Baseline: a role drawn uniformly from the allowed ones, whatever the input or the load. The
// fallback order after it is the other allowed roles, cheapest first.
import type { Policy, PolicyDecision, PolicyInput } from './policy.js';
import { byRelativeCost, candidateRoles } from './candidates.js';
import type { VariantProfiles } from './variant-profile.js';

export class RandomPolicy implements Policy {
  readonly type = 'random';

  constructor(
    private readonly profiles: VariantProfiles,
    /** Uniform in [0, 1), as Math.random. */
    private readonly random: () => number = Math.random,
  ) {}

  decide(input: PolicyInput): PolicyDecision {
    const candidates = candidateRoles(input.allowed);
    const draw = Math.floor(this.random() * candidates.length);
    // A source that returns 1 (or NaN) still picks an allowed role.
    const index = Number.isNaN(draw) ? 0 : Math.min(candidates.length - 1, Math.max(0, draw));
    const role = candidates[index]!;
    const others = byRelativeCost(candidates.filter((r) => r !== role), this.profiles);
    return { role, ranked: [role, ...others], reason: 'random' };
  }
}
