// Decides whether an observed object already carries every field the operator wants, so steady
// state issues no writes. The API server adds defaults (and may rewrite quantities such as "0.5"
// as "500m"), so the check is a subset match with quantities compared by value.
import { parseQuantity } from '../common/quantity.js';

function sameQuantity(a: string, b: string): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x !== undefined && y !== undefined && Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Paths under which string values are Kubernetes quantities (resources, a volume's sizeLimit). */
const isQuantityPath = (path: string[]): boolean =>
  (path.includes('resources') && (path.includes('requests') || path.includes('limits'))) || path[path.length - 1] === 'sizeLimit';

export function containsDesired(observed: unknown, desired: unknown, path: string[] = []): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(observed) && observed.length === desired.length &&
      desired.every((item, i) => containsDesired(observed[i], item, path));
  }
  if (isObject(desired)) {
    return isObject(observed) &&
      Object.entries(desired).every(([key, value]) => containsDesired(observed[key], value, [...path, key]));
  }
  if (typeof desired === 'string' && typeof observed === 'string' && isQuantityPath(path)) {
    return desired === observed || sameQuantity(desired, observed);
  }
  return observed === desired;
}

/**
 * True when the observed object differs from the desired one in a field the API server will not
 * change (a RoleBinding's roleRef): it must be deleted and created again, not patched.
 */
export function needsReplacement(observed: unknown, desired: unknown): boolean {
  if (!isObject(observed) || !isObject(desired) || desired.kind !== 'RoleBinding') return false;
  return !containsDesired(observed.roleRef, desired.roleRef);
}
