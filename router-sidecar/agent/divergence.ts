// How far a cached embedding is from the one computed fresh for the same request. Both measures
// are 0 for identical vectors and scale-free, so one threshold works across variants.
import type { DriftMetric } from '../../crds/types.js';

const EPSILON = 1e-12;

function checkLengths(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`embeddings differ in length: ${a.length} vs ${b.length}`);
}

/**
 * 1 - cosine similarity, in [0, 2]. Two zero vectors are identical (0); a zero vector against a
 * non-zero one has no direction to compare, so it counts as orthogonal (1).
 */
export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkLengths(a, b);
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  if (normA === 0 && normB === 0) return 0;
  if (normA === 0 || normB === 0) return 1;
  const similarity = dot / Math.sqrt(normA * normB);
  // Rounding can push the similarity of parallel vectors a hair past ±1.
  return 1 - Math.min(1, Math.max(-1, similarity));
}

/** ‖a - b‖ / ‖b‖: the error of `a` relative to the reference `b` (0 when both are zero). */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkLengths(a, b);
  let diff = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    diff += d * d;
    normB += b[i]! * b[i]!;
  }
  if (diff === 0) return 0;
  return Math.sqrt(diff) / Math.max(Math.sqrt(normB), EPSILON);
}

/** The configured measure of the cached embedding against the fresh one (the reference). */
export function divergence(metric: DriftMetric, cached: ArrayLike<number>, fresh: ArrayLike<number>): number {
  return metric === 'cosine' ? cosineDistance(cached, fresh) : relativeL2(cached, fresh);
}
