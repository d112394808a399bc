// Baseline: the allowed roles in turn, in ROLES order. Each decision takes the next allowed role
// after the previous choice (wrapping around), so a role whose breaker opens is skipped without
// disturbing the order of the others. The fallback order continues the cycle after the choice.
import { ROLES, type Role } from '../../crds/types.js';
import { candidateRoles } from './candidates.js';
import type { Policy, PolicyDecision, PolicyInput } from './policy.js';

export class RoundRobinPolicy implements Policy {
  readonly type = 'round-robin';
  /** Index in ROLES of the previous choice; the first decision takes the first allowed role. */
  private previous = -1;

  decide(input: PolicyInput): PolicyDecision {
    const candidates = new Set<Role>(candidateRoles(input.allowed));
    const cycle: Role[] = [];
    for (let step = 1; step <= ROLES.length; step++) {
      const role = ROLES[(this.previous + step) % ROLES.length]!;
      if (candidates.has(role)) cycle.push(role);
    }
    const role = cycle[0]!;
    this.previous = ROLES.indexOf(role);
    return { role, ranked: cycle, reason: 'round-robin' };
  }
}
