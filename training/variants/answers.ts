import type { VariantRuntime } from '../../variant-server/runtime.js';
import { argmaxRows } from '../../variant-server/tensors.js';

/**
 * 1 where the variant's answer (encoder then head, `batch` rows per run) matches the label, row by
 * row; `progress` is told how many rows are done after each run.
 */
export async function rowsAnsweredRight(
  runtime: VariantRuntime, features: Float32Array, labels: Int32Array, batch: number, progress?: (done: number) => void,
): Promise<Uint8Array> {
  const rows = labels.length;
  const dim = runtime.inputDim;
  const right = new Uint8Array(rows);
  for (let start = 0; start < rows; start += batch) {
    const count = Math.min(batch, rows - start);
    const x = features.subarray(start * dim, (start + count) * dim);
    const { logits } = await runtime.classify(await runtime.encode(x, count), count);
    argmaxRows(logits, count).forEach((predicted, i) => {
      right[start + i] = predicted === labels[start + i] ? 1 : 0;
    });
    progress?.(start + count);
  }
  return right;
}
