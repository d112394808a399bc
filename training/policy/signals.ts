// Runs the distilled variant (the same ONNX graphs the router loads) over a trace to get each
// row's estimator signals.
import path from 'node:path';
import { cpuUsage } from 'node:process';
import { nearestRank } from '../../common/stats.js';
import { MODELS_ROOT } from '../../scripts/standalone/local-cascade.js';
import { estimatorSignals } from '../../router-sidecar/policy/estimator-signals.js';
import { loadVariant } from '../../variant-server/runtime.js';
import type { TraceRows } from './trace.js';

export interface Signals {
  width: number;
  values: Float32Array;
}

export async function distilledSignals(trace: TraceRows, workload = trace.workload): Promise<Signals> {
  const runtime = await loadVariant(path.join(MODELS_ROOT, workload, 'distilled'), { device: 'cpu' });
  try {
    const rows = trace.labels.length;
    const width = runtime.classes + runtime.embeddingDim;
    const values = new Float32Array(rows * width);
    const batch = 1000;
    for (let from = 0; from < rows; from += batch) {
      const n = Math.min(batch, rows - from);
      const features = trace.features.slice(from * trace.dim, (from + n) * trace.dim);
      const embedding = await runtime.encode(features, n);
      const { probabilities } = await runtime.classify(embedding, n);
      values.set(estimatorSignals(probabilities, embedding, n), from * width);
    }
    return { width, values };
  } finally {
    await runtime.close();
  }
}

/**
 * CPU time (ms) of one run of the distilled model at batch 1 in this process: what a router that
 * answers distilled itself (policy.distilledInRouter) spends per such request. The median of
 * `rounds` rounds over the first rows, after a warm-up.
 */
export async function distilledInProcessCpuMs(workload: string, features: Float32Array, dim: number, requests = 1000, rounds = 3): Promise<number> {
  const runtime = await loadVariant(path.join(MODELS_ROOT, workload, 'distilled'), { device: 'cpu' });
  try {
    const count = Math.min(requests, Math.floor(features.length / dim));
    const run = async (i: number) => {
      const embedding = await runtime.encode(features.subarray(i * dim, (i + 1) * dim), 1);
      await runtime.classify(embedding, 1);
    };
    for (let i = 0; i < Math.min(200, count); i++) await run(i);
    const perRound: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const before = cpuUsage();
      for (let i = 0; i < count; i++) await run(i);
      const used = cpuUsage(before);
      perRound.push((used.user + used.system) / 1000 / count);
    }
    return nearestRank(perRound.sort((a, b) => a - b), 0.5);
  } finally {
    await runtime.close();
  }
}
