/** Element-wise agreement of two float arrays within |a - b| <= atol + rtol * |b|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** fp32 graphs reproduce PyTorch up to summation order. */
export const FP32_TOLERANCE: Tolerance = { atol: 1e-4, rtol: 1e-3 };
/**
 * The int8 graph against PyTorch's exact emulation of it: the integer sums are exact, but an
 * activation that lands on a rounding tie may quantize one step apart.
 */
export const INT8_TOLERANCE: Tolerance = { atol: 2e-2, rtol: 1e-2 };

export interface Agreement {
  maxAbsError: number;
  worstIndex: number;
  withinTolerance: boolean;
}

export function compareArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance): Agreement {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: got ${actual.length} values, expected ${expected.length}`);
  }
  let maxAbsError = 0;
  let worstIndex = -1;
  let withinTolerance = true;
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    if (!(error <= tolerance.atol + tolerance.rtol * Math.abs(expected[i]!))) withinTolerance = false;
    if (!(error <= maxAbsError)) {
      maxAbsError = error;
      worstIndex = i;
    }
  }
  return { maxAbsError, worstIndex, withinTolerance };
}
