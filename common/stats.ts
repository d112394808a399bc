/** Nearest-rank percentile of ascending values; `fraction` in [0, 1]; NaN when empty. */
export function nearestRank(ascending: ArrayLike<number>, fraction: number): number {
  if (ascending.length === 0) return Number.NaN;
  return ascending[Math.min(ascending.length - 1, Math.max(0, Math.ceil(fraction * ascending.length) - 1))]!;
}
