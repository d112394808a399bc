// The difficulty estimator: a small network from a request's estimator signals (the distilled
// variant's sorted probabilities and embedding, router-sidecar/policy/estimator-signals.ts) to each
// role's probability of answering it correctly, trained supervised on a recorded trace (binary
// cross-entropy per role). The router runs it as estimator.onnx beside the policy. The raw
// features alone predict correctness poorly (held-out AUC about 0.56 for an MLP on them, against
// 0.82 for the distilled model's confidence alone).
import { ROLES } from '../../crds/types.js';
import { seededRandom, shuffledIndices } from '../../common/random.js';
import { Adam, Mlp, sigmoid, type Activation } from './nn.js';
import type { Signals } from './signals.js';
import { isCorrect, type TraceRows } from './trace.js';

export interface EstimatorSettings {
  hidden: number[];
  activation: Activation;
  epochs: number;
  lr: number;
  batch: number;
  seed: number;
}

function gather(trace: TraceRows, signals: Signals, indices: readonly number[], from: number, to: number): { x: Float64Array; y: Float64Array } {
  const rows = to - from;
  const { width } = signals;
  const x = new Float64Array(rows * width);
  const y = new Float64Array(rows * ROLES.length);
  for (let r = 0; r < rows; r++) {
    const source = indices[from + r]!;
    for (let c = 0; c < width; c++) x[r * width + c] = signals.values[source * width + c]!;
    ROLES.forEach((role, k) => { y[r * ROLES.length + k] = isCorrect(trace, role, source) ? 1 : 0; });
  }
  return { x, y };
}

export interface EstimatorTraining {
  model: Mlp;
  /** Mean binary cross-entropy on the validation rows after each epoch. */
  validationLoss: number[];
}

export function trainEstimator(trace: TraceRows, signals: Signals, trainRows: readonly number[], validationRows: readonly number[], settings: EstimatorSettings, onEpoch?: (epoch: number, loss: number) => void): EstimatorTraining {
  const random = seededRandom(settings.seed);
  const model = new Mlp({ sizes: [signals.width, ...settings.hidden, ROLES.length], hidden: settings.activation }, random);
  const optimizer = new Adam(model.parameters(), { lr: settings.lr, maxGradNorm: 5 });
  const validation = gather(trace, signals, validationRows, 0, validationRows.length);
  const validationLoss: number[] = [];
  for (let epoch = 0; epoch < settings.epochs; epoch++) {
    const order = shuffledIndices(trainRows.length, random).map((i) => trainRows[i]!);
    for (let from = 0; from < order.length; from += settings.batch) {
      const to = Math.min(order.length, from + settings.batch);
      const { x, y } = gather(trace, signals, order, from, to);
      const forward = model.forward(x, to - from);
      // d(BCE with logits)/d logit = sigmoid(logit) - target, averaged over the batch.
      const grad = new Float64Array(forward.output.length);
      for (let i = 0; i < grad.length; i++) grad[i] = (sigmoid(forward.output[i]!) - y[i]!) / (to - from);
      optimizer.step(model.backward(forward, grad));
    }
    const loss = binaryCrossEntropy(predictCorrectness(model, validation.x, validationRows.length), validation.y);
    validationLoss.push(loss);
    onEpoch?.(epoch + 1, loss);
  }
  return { model, validationLoss };
}

/** Probabilities [rows, 4] in ROLES order. */
export function predictCorrectness(model: Mlp, x: Float64Array | Float32Array, rows: number): Float64Array {
  if (x instanceof Float32Array) x = Float64Array.from(x);
  const logits = model.forward(x, rows).output;
  return logits.map(sigmoid);
}

export function binaryCrossEntropy(probabilities: Float64Array, targets: Float64Array): number {
  let total = 0;
  for (let i = 0; i < probabilities.length; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, probabilities[i]!));
    total -= targets[i]! * Math.log(p) + (1 - targets[i]!) * Math.log(1 - p);
  }
  return total / probabilities.length;
}

export interface Calibration {
  /** Expected calibration error over equal-width bins. */
  ece: number;
  brier: number;
  /** Area under the ROC curve: how well the estimate ranks right answers above wrong ones. */
  auc: number;
  meanPredicted: number;
  observed: number;
  bins: { low: number; high: number; count: number; meanPredicted: number; observed: number }[];
}

export function calibration(predicted: readonly number[], outcomes: readonly boolean[], binCount = 10): Calibration {
  if (predicted.length !== outcomes.length || predicted.length === 0) throw new RangeError('predicted and outcomes must be non-empty and of equal length');
  const bins = Array.from({ length: binCount }, (_, b) => ({ low: b / binCount, high: (b + 1) / binCount, count: 0, sumP: 0, sumY: 0 }));
  let brier = 0;
  predicted.forEach((p, i) => {
    const y = outcomes[i] ? 1 : 0;
    const bin = bins[Math.min(binCount - 1, Math.floor(p * binCount))]!;
    bin.count++;
    bin.sumP += p;
    bin.sumY += y;
    brier += (p - y) ** 2;
  });
  const n = predicted.length;
  const ece = bins.reduce((sum, b) => sum + (b.count > 0 ? (b.count / n) * Math.abs(b.sumP / b.count - b.sumY / b.count) : 0), 0);
  return {
    ece,
    brier: brier / n,
    auc: rocAuc(predicted, outcomes),
    meanPredicted: predicted.reduce((a, b) => a + b, 0) / n,
    observed: outcomes.filter(Boolean).length / n,
    bins: bins.filter((b) => b.count > 0).map((b) => ({ low: b.low, high: b.high, count: b.count, meanPredicted: b.sumP / b.count, observed: b.sumY / b.count })),
  };
}

/** Mann-Whitney form of the AUC, ties counted half. */
export function rocAuc(scores: readonly number[], positives: readonly boolean[]): number {
  const order = scores.map((s, i) => ({ s, y: positives[i]! })).sort((a, b) => a.s - b.s);
  let rankSum = 0;
  let positivesSeen = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && order[j]!.s === order[i]!.s) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (order[k]!.y) { rankSum += averageRank; positivesSeen++; }
    i = j;
  }
  const negatives = order.length - positivesSeen;
  if (positivesSeen === 0 || negatives === 0) return 0.5;
  return (rankSum - (positivesSeen * (positivesSeen + 1)) / 2) / (positivesSeen * negatives);
}
