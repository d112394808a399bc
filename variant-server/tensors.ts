// Shared by the OIP v2 and /predict request parsers: turning JSON numbers into a row-major
// Float32Array while naming the exact element that is wrong.

import { RequestError } from '../common/http-json.js';

export { RequestError };

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}...` : value)}`;
  return `${typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`}`;
}

/**
 * JSON has no NaN, but "NaN" strings and overflowing literals such as 1e400 (Infinity) do arrive,
 * and so do finite doubles beyond FP32's range, such as 1e39, which would reach the model as Infinity.
 */
export function checkNumber(value: unknown, field: string): number {
  if (typeof value !== 'number') throw new RequestError(400, `${field} must be a number, got ${describe(value)}`);
  if (!Number.isFinite(value))
    throw new RequestError(400, `${field} must be a finite number, got ${value} (NaN and Infinity are rejected)`);
  if (!Number.isFinite(Math.fround(value)))
    throw new RequestError(400, `${field} is ${value}, outside the FP32 range: it would be ${value > 0 ? '' : '-'}Infinity (FP32 magnitudes end at 3.4028234663852886e+38)`);
  return value;
}

/**
 * Model outputs go out as JSON numbers, which have no NaN or Infinity (JSON.stringify would write
 * null). A graph computes them from finite inputs only when those are so large that FP32 arithmetic
 * overflows, so the request is refused (422) naming the first such row.
 */
export function checkFiniteOutputs(model: string, outputs: Record<string, Float32Array | undefined>, rows: number): void {
  for (const [name, values] of Object.entries(outputs)) {
    if (!values) continue;
    const at = values.findIndex((v) => !Number.isFinite(v));
    if (at < 0) continue;
    const row = Math.floor(at / (values.length / rows));
    throw new RequestError(
      422,
      `model "${model}" computed ${values[at]} in output "${name}" for row ${row}: its input values are too large in magnitude for FP32 arithmetic`,
    );
  }
}

/**
 * Copies flat or nested number arrays into `out` in row-major order, up to `maxDepth` levels of
 * nesting. Returns how many numbers there were, which may differ from out.length.
 */
export function flattenInto(data: unknown, out: Float32Array, maxDepth: number, field: string): number {
  let count = 0;
  const walk = (value: unknown, depth: number): void => {
    if (Array.isArray(value)) {
      if (depth >= maxDepth) throw new RequestError(400, `${field} is nested deeper than its shape allows`);
      for (const element of value) walk(element, depth + 1);
      return;
    }
    const n = checkNumber(value, `${field}[${count}]`);
    if (count < out.length) out[count] = n;
    count += 1;
  };
  if (!Array.isArray(data)) throw new RequestError(400, `${field} must be an array of numbers, got ${describe(data)}`);
  walk(data, 0);
  return count;
}

export function argmaxRows(values: Float32Array, rows: number): number[] {
  const width = values.length / rows;
  const result = new Array<number>(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (values[r * width + c]! > values[r * width + best]!) best = c;
    result[r] = best;
  }
  return result;
}

export function toRows(values: Float32Array, rows: number): number[][] {
  const width = values.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from(values.subarray(r * width, (r + 1) * width)));
}
