// The difficulty estimator's input, computed from the distilled variant's answer to the request:
// its class probabilities sorted in descending order (how sure it is, whatever the class), then
// its embedding. Training (training/policy/) and the router build it with this one function.
export function estimatorSignalWidth(classes: number, embeddingDim: number): number {
  return classes + embeddingDim;
}

export function estimatorSignals(probabilities: Float32Array, embedding: Float32Array, rows: number): Float32Array {
  const classes = probabilities.length / rows;
  const embeddingDim = embedding.length / rows;
  const width = classes + embeddingDim;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const sorted = Array.from(probabilities.subarray(r * classes, (r + 1) * classes)).sort((a, b) => b - a);
    out.set(sorted, r * width);
    out.set(embedding.subarray(r * embeddingDim, (r + 1) * embeddingDim), r * width + classes);
  }
  return out;
}
