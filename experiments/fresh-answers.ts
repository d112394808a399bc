// Every request's fresh answer from one variant's real ONNX graphs (encoder and head), computed in
// this process in batches: the ground truth that reused answers are compared with.
import path from 'node:path';
import { ROOT } from '../scripts/cluster/paths.js';
import type { SessionRequest } from '../training/data/sessions32.js';
import { loadVariant } from '../variant-server/runtime.js';

export interface FreshAnswer {
  embedding: Float32Array;
  probabilities: Float32Array;
  prediction: number;
}

export const variantDirectory = (workload: string, role: string): string => path.join(ROOT, 'models', workload, role);

export async function freshAnswers(requests: readonly SessionRequest[], modelDirectory: string, batch = 512): Promise<FreshAnswer[]> {
  const runtime = await loadVariant(modelDirectory, { device: 'cpu' });
  try {
    const dim = runtime.inputDim;
    const answers: FreshAnswer[] = [];
    for (let start = 0; start < requests.length; start += batch) {
      const rows = Math.min(batch, requests.length - start);
      const features = new Float32Array(rows * dim);
      for (let r = 0; r < rows; r++) features.set(requests[start + r]!.features, r * dim);
      const embeddings = await runtime.encode(features, rows);
      const { probabilities } = await runtime.classify(embeddings, rows);
      const width = embeddings.length / rows;
      const classes = probabilities.length / rows;
      for (let r = 0; r < rows; r++) {
        const p = probabilities.slice(r * classes, (r + 1) * classes);
        let prediction = 0;
        for (let c = 1; c < classes; c++) if (p[c]! > p[prediction]!) prediction = c;
        answers.push({ embedding: embeddings.slice(r * width, (r + 1) * width), probabilities: p, prediction });
      }
    }
    return answers;
  } finally {
    await runtime.close();
  }
}
