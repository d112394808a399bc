// Every request to one configured role; the others, most accurate first, are only the fallback
// order when that role fails. The decision never changes, so it is built once.
import { ROLES, type Role } from '../../crds/types.js';
import type { Policy, PolicyDecision } from './policy.js';
import type { VariantProfiles } from './variant-profile.js';

export class StaticPolicy implements Policy {
  readonly type = 'static';
  private readonly decision: PolicyDecision;

  constructor(role: Role, profiles: VariantProfiles) {
    const others = ROLES.filter((r) => r !== role).sort((a, b) => profiles[b].accuracy - profiles[a].accuracy);
    this.decision = Object.freeze({ role, ranked: Object.freeze([role, ...others]), reason: 'static' });
  }

  decide(): PolicyDecision {
    return this.decision;
  }
}
