// The research prototype's API: POST /predict {"features": [[...], ...]}. Pure, like oip.ts.
import type { GraphOutputs } from './scheduler.js';
import { argmaxRows, checkFiniteOutputs, checkNumber, describe, RequestError, toRows } from './tensors.js';

export interface PredictRequest {
  rows: number;
  data: Float32Array;
}

export interface PredictResponse {
  predictions: number[];
  probabilities: number[][];
  embedding?: number[][];
  model: string;
  latency_ms: number;
}

export function parsePredictRequest(body: unknown, width: number): PredictRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RequestError(400, `request body must be a JSON object {"features": [[...], ...]}, got ${describe(body)}`);
  }
  const { features } = body as { features?: unknown };
  if (!Array.isArray(features))
    throw new RequestError(400, `"features" must be an array of rows, got ${features === undefined ? 'nothing' : describe(features)}`);
  if (features.length === 0) throw new RequestError(400, '"features" is an empty batch; send at least one row');
  const data = new Float32Array(features.length * width);
  features.forEach((row, r) => {
    if (!Array.isArray(row)) throw new RequestError(400, `features[${r}] must be an array of ${width} numbers, got ${describe(row)}`);
    if (row.length !== width) throw new RequestError(400, `features[${r}] has ${row.length} values but the model takes ${width}`);
    for (let c = 0; c < width; c++) data[r * width + c] = checkNumber(row[c], `features[${r}][${c}]`);
  });
  return { rows: features.length, data };
}

/** `?embedding=1` asks for the embedding too. */
export function parseEmbeddingFlag(query: unknown): boolean {
  const value = (query as { embedding?: unknown } | undefined)?.embedding;
  if (value === undefined) return false;
  if (value === '1' || value === 'true' || value === '') return true;
  if (value === '0' || value === 'false') return false;
  throw new RequestError(400, `query parameter "embedding" must be 1 or 0, got ${describe(value)}`);
}

export function formatPredictResponse(
  model: string,
  rows: number,
  raw: GraphOutputs,
  withEmbedding: boolean,
  latencyMs: number,
): PredictResponse {
  checkFiniteOutputs(model, { logits: raw.logits, probabilities: raw.probabilities, ...(withEmbedding ? { embedding: raw.embedding } : {}) }, rows);
  return {
    predictions: argmaxRows(raw.logits!, rows),
    probabilities: toRows(raw.probabilities!, rows),
    ...(withEmbedding ? { embedding: toRows(raw.embedding!, rows) } : {}),
    model,
    latency_ms: Math.round(latencyMs * 1000) / 1000,
  };
}
