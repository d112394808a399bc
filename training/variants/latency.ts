/** Batch-1 and batch-16 latency of encoder+head on onnxruntime-node, variants interleaved. */
import { nearestRank } from '../../common/stats.js';
import type { VariantRuntime } from '../../variant-server/runtime.js';

export interface LatencyFigures {
  p50: number;
  p99: number;
}

export const percentile = (sorted: readonly number[], fraction: number): number => nearestRank(sorted, fraction);

export function summarize(samples: number[]): LatencyFigures {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

async function timeOnce(runtime: VariantRuntime, input: Float32Array, rows: number): Promise<number> {
  const started = process.hrtime.bigint();
  const embedding = await runtime.encode(input, rows);
  await runtime.classify(embedding, rows);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/**
 * Round-robin over variants so that machine noise hits every variant alike; inputs are drawn from
 * `rowsPool` (row-major, `dim` wide).
 */
export async function measureLatency(
  runtimes: Record<string, VariantRuntime>,
  rowsPool: Float32Array,
  dim: number,
  batch: number,
  iterations: number,
  onProgress?: (done: number) => void,
): Promise<Record<string, LatencyFigures>> {
  const poolRows = rowsPool.length / dim;
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(runtimes).map((role) => [role, []]));
  const warmup = Math.max(20, Math.floor(iterations / 10));
  for (let i = 0; i < warmup + iterations; i++) {
    const start = ((i * batch) % (poolRows - batch)) * dim;
    const input = rowsPool.slice(start, start + batch * dim);
    for (const [role, runtime] of Object.entries(runtimes)) {
      const ms = await timeOnce(runtime, input, batch);
      if (i >= warmup) samples[role]!.push(ms);
    }
    if (onProgress && i % 200 === 0) onProgress(i);
  }
  return Object.fromEntries(Object.entries(samples).map(([role, values]) => [role, summarize(values)]));
}
