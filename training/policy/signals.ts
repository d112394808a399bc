// Runs the distilled variant (the same ONNX graphs the router loads) over a trace to get each
// row's estimator signals.
import path from 'node:path';
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
