// Orderings shared by the baseline policies (random, round-robin, threshold-cascade).
import { ROLES, type Role } from '../../crds/types.js';
import type { VariantProfiles } from './variant-profile.js';

/** The roles in `allowed`, in ROLES order; all roles when `allowed` is omitted or holds none (as the heuristic does). */
export function candidateRoles(allowed: ReadonlySet<Role> | undefined): Role[] {
  const restrict = allowed !== undefined && ROLES.some((role) => allowed.has(role));
  return restrict ? ROLES.filter((role) => allowed.has(role)) : [...ROLES];
}

/** `roles` by ascending relative cost, ties in ROLES order (a new array). */
export function byRelativeCost(roles: readonly Role[], profiles: VariantProfiles): Role[] {
  return [...roles].sort((a, b) => profiles[a].relativeCost - profiles[b].relativeCost || ROLES.indexOf(a) - ROLES.indexOf(b));
}
