/** A labelled classification data set, row-major float32 features. */
export interface Dataset {
  name: string;
  dim: number;
  classes: number;
  features: Float32Array;
  labels: Int32Array;
}

export interface Split {
  train: Dataset;
  test: Dataset;
}

export function rowCount(dataset: Dataset): number {
  return dataset.labels.length;
}

export function row(dataset: Dataset, index: number): Float32Array {
  return dataset.features.subarray(index * dataset.dim, (index + 1) * dataset.dim);
}

/** Rows `indices` of `dataset`, in that order. */
export function subset(dataset: Dataset, indices: readonly number[], name = dataset.name): Dataset {
  const features = new Float32Array(indices.length * dataset.dim);
  const labels = new Int32Array(indices.length);
  indices.forEach((source, target) => {
    features.set(row(dataset, source), target * dataset.dim);
    labels[target] = dataset.labels[source]!;
  });
  return { name, dim: dataset.dim, classes: dataset.classes, features, labels };
}

/** Fraction of each class, to document and test class balance. */
export function classBalance(dataset: Dataset): number[] {
  const counts = new Array<number>(dataset.classes).fill(0);
  for (const label of dataset.labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts.map((count) => count / Math.max(1, dataset.labels.length));
}
