// Decides whether an observed object already carries every field the operator wants, so steady
// state issues no writes. The API server adds defaults (and may rewrite quantities such as "0.5"
// as "500m"), so the check is a subset match with quantities compared by value.

const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

export function parseQuantity(value: string): number | undefined {
  const match = QUANTITY.exec(value);
  if (!match) return undefined;
  const [, number, exponent, suffix] = match;
  const base = Number(number);
  if (exponent) return base * 10 ** Number(exponent.slice(1));
  return base * SUFFIX[suffix ?? '']!;
}

function sameQuantity(a: string, b: string): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x !== undefined && y !== undefined && Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Paths (dot-joined keys) under which string values are Kubernetes quantities. */
const inResources = (path: string[]): boolean => path.includes('resources') && (path.includes('requests') || path.includes('limits'));

export function containsDesired(observed: unknown, desired: unknown, path: string[] = []): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(observed) && observed.length === desired.length &&
      desired.every((item, i) => containsDesired(observed[i], item, path));
  }
  if (isObject(desired)) {
    return isObject(observed) &&
      Object.entries(desired).every(([key, value]) => containsDesired(observed[key], value, [...path, key]));
  }
  if (typeof desired === 'string' && typeof observed === 'string' && inResources(path)) {
    return desired === observed || sameQuantity(desired, observed);
  }
  return observed === desired;
}
