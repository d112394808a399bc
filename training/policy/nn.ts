// A small dependency-free multilayer perceptron in float64 with manual backprop and Adam, for
// training the routing policy and the difficulty estimator. Exported to ONNX by mlp-graph.ts.
import { shuffledIndices, type Random } from '../../common/random.js';

export type Activation = 'tanh' | 'relu';

export interface MlpSpec {
  /** Layer widths from input to output, e.g. [27, 64, 64, 4]. */
  sizes: number[];
  /** Activation after every layer but the last; the output layer is linear. */
  hidden: Activation;
  /** Scales the initial weights of the output layer (default 1; PPO policy heads use 0.01). */
  outputGain?: number;
}

/** What backward needs from a forward pass. */
export interface Forward {
  rows: number;
  /** inputs[l] is the input of layer l (inputs[0] = x, later ones are post-activation hidden values). */
  inputs: Float64Array[];
  /** rows * sizes.at(-1), row-major. */
  output: Float64Array;
}

export interface MlpJson {
  spec: MlpSpec;
  /** inputMask[i] false = feature i is ignored (its W0 row is held at zero). */
  inputMask?: boolean[];
  /** [W0, b0, W1, b1, ...] as plain numbers. */
  parameters: number[][];
}

export class Mlp {
  readonly spec: MlpSpec;
  /** weights[l] is row-major [sizes[l], sizes[l+1]]: y = x @ W + b. */
  private readonly weights: Float64Array[];
  private readonly biases: Float64Array[];
  private mask: boolean[] | undefined;

  constructor(spec: MlpSpec, random: Random) {
    const { sizes } = spec;
    if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
      throw new RangeError(`sizes must hold at least two positive integers, got [${sizes.join(', ')}]`);
    }
    this.spec = { sizes: [...sizes], hidden: spec.hidden, outputGain: spec.outputGain ?? 1 };
    this.weights = [];
    this.biases = [];
    for (let l = 0; l < sizes.length - 1; l++) {
      const fanIn = sizes[l]!;
      const fanOut = sizes[l + 1]!;
      // Glorot-uniform keeps tanh pre-activations unit-scale; He-uniform compensates for relu halving the variance.
      const limit = spec.hidden === 'tanh' ? Math.sqrt(6 / (fanIn + fanOut)) : Math.sqrt(6 / fanIn);
      const gain = l === sizes.length - 2 ? this.spec.outputGain! : 1;
      const w = new Float64Array(fanIn * fanOut);
      for (let i = 0; i < w.length; i++) w[i] = (2 * random.next() - 1) * limit * gain;
      this.weights.push(w);
      this.biases.push(new Float64Array(fanOut));
    }
  }

  get inputWidth(): number {
    return this.spec.sizes[0]!;
  }

  get outputWidth(): number {
    return this.spec.sizes[this.spec.sizes.length - 1]!;
  }

  get layerCount(): number {
    return this.weights.length;
  }

  get inputMask(): boolean[] | undefined {
    return this.mask ? [...this.mask] : undefined;
  }

  /** Live references, [W0, b0, W1, b1, ...]; an optimizer updates them in place. */
  parameters(): Float64Array[] {
    return this.weights.flatMap((w, l) => [w, this.biases[l]!]);
  }

  /**
   * Ignores the features whose mask entry is false: zeroes their W0 rows, and backward zeroes
   * their gradients so they stay zero. Mask before training: Adam moments accumulated earlier
   * would otherwise still move those rows.
   */
  maskInputs(mask: boolean[]): void {
    if (mask.length !== this.inputWidth) throw new RangeError(`mask must have ${this.inputWidth} entries, got ${mask.length}`);
    this.mask = [...mask];
    this.zeroMaskedRows(this.weights[0]!);
  }

  forward(x: Float64Array, rows: number): Forward {
    if (x.length !== rows * this.inputWidth) throw new RangeError(`expected ${rows} x ${this.inputWidth} inputs, got ${x.length} values`);
    const inputs: Float64Array[] = [x];
    let current = x;
    for (let l = 0; l < this.weights.length; l++) {
      const next = this.linear(l, current, rows);
      if (l < this.weights.length - 1) {
        if (this.spec.hidden === 'tanh') for (let i = 0; i < next.length; i++) next[i] = Math.tanh(next[i]!);
        else for (let i = 0; i < next.length; i++) next[i] = Math.max(0, next[i]!);
        inputs.push(next);
      }
      current = next;
    }
    return { rows, inputs, output: current };
  }

  /** Gradients of a loss w.r.t. parameters(), given dLoss/dOutput; does not update anything. */
  backward(forward: Forward, gradOutput: Float64Array): Float64Array[] {
    const { rows, inputs } = forward;
    if (gradOutput.length !== rows * this.outputWidth) {
      throw new RangeError(`gradOutput must hold ${rows} x ${this.outputWidth} values, got ${gradOutput.length}`);
    }
    const grads: Float64Array[] = new Array(2 * this.weights.length);
    let delta = gradOutput;
    for (let l = this.weights.length - 1; l >= 0; l--) {
      const input = inputs[l]!;
      const w = this.weights[l]!;
      const nIn = this.spec.sizes[l]!;
      const nOut = this.spec.sizes[l + 1]!;
      const gw = new Float64Array(nIn * nOut);
      const gb = new Float64Array(nOut);
      for (let r = 0; r < rows; r++) {
        for (let k = 0; k < nIn; k++) {
          const a = input[r * nIn + k]!;
          if (a === 0) continue;
          for (let j = 0; j < nOut; j++) gw[k * nOut + j]! += a * delta[r * nOut + j]!;
        }
        for (let j = 0; j < nOut; j++) gb[j]! += delta[r * nOut + j]!;
      }
      grads[2 * l] = gw;
      grads[2 * l + 1] = gb;
      if (l === 0) break;
      // Propagate through W, then through the hidden activation whose output is `input`.
      const previous = new Float64Array(rows * nIn);
      for (let r = 0; r < rows; r++) {
        for (let k = 0; k < nIn; k++) {
          let sum = 0;
          for (let j = 0; j < nOut; j++) sum += delta[r * nOut + j]! * w[k * nOut + j]!;
          const a = input[r * nIn + k]!;
          previous[r * nIn + k] = this.spec.hidden === 'tanh' ? sum * (1 - a * a) : a > 0 ? sum : 0;
        }
      }
      delta = previous;
    }
    this.zeroMaskedRows(grads[0]!);
    return grads;
  }

  toJSON(): MlpJson {
    return {
      spec: { ...this.spec, sizes: [...this.spec.sizes] },
      ...(this.mask ? { inputMask: [...this.mask] } : {}),
      parameters: this.parameters().map((p) => Array.from(p)),
    };
  }

  static fromJSON(json: MlpJson): Mlp {
    // Initialization draws are overwritten below, so any seed will do.
    const mlp = new Mlp(json.spec, { next: () => 0.5, gaussian: () => 0, int: () => 0 });
    const parameters = mlp.parameters();
    if (json.parameters.length !== parameters.length) {
      throw new RangeError(`expected ${parameters.length} parameter arrays, got ${json.parameters.length}`);
    }
    parameters.forEach((p, i) => {
      const values = json.parameters[i]!;
      if (values.length !== p.length) throw new RangeError(`parameter ${i} must hold ${p.length} values, got ${values.length}`);
      p.set(values);
    });
    if (json.inputMask) mlp.maskInputs(json.inputMask);
    return mlp;
  }

  clone(): Mlp {
    return Mlp.fromJSON(this.toJSON());
  }

  private linear(l: number, x: Float64Array, rows: number): Float64Array {
    const w = this.weights[l]!;
    const b = this.biases[l]!;
    const nIn = this.spec.sizes[l]!;
    const nOut = this.spec.sizes[l + 1]!;
    const y = new Float64Array(rows * nOut);
    for (let r = 0; r < rows; r++) {
      const o = r * nOut;
      for (let j = 0; j < nOut; j++) y[o + j] = b[j]!;
      for (let k = 0; k < nIn; k++) {
        const a = x[r * nIn + k]!;
        if (a === 0) continue;
        const row = k * nOut;
        for (let j = 0; j < nOut; j++) y[o + j]! += a * w[row + j]!;
      }
    }
    return y;
  }

  private zeroMaskedRows(w0: Float64Array): void {
    if (!this.mask) return;
    const nOut = this.spec.sizes[1]!;
    this.mask.forEach((keep, k) => {
      if (!keep) w0.fill(0, k * nOut, (k + 1) * nOut);
    });
  }
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip the global L2 norm of all gradients to this value before the update. */
  maxGradNorm?: number;
}

export function globalNorm(arrays: Float64Array[]): number {
  let sum = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) sum += a[i]! * a[i]!;
  return Math.sqrt(sum);
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly maxGradNorm: number | undefined;
  private readonly parameters: Float64Array[];
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;

  constructor(parameters: Float64Array[], options: AdamOptions) {
    this.parameters = parameters;
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.maxGradNorm = options.maxGradNorm;
    this.m = parameters.map((p) => new Float64Array(p.length));
    this.v = parameters.map((p) => new Float64Array(p.length));
  }

  get steps(): number {
    return this.t;
  }

  /** Updates the parameters in place; gradNorm is the global norm before clipping. grads are not modified. */
  step(grads: Float64Array[]): { gradNorm: number } {
    if (grads.length !== this.parameters.length) throw new RangeError(`expected ${this.parameters.length} gradients, got ${grads.length}`);
    const gradNorm = globalNorm(grads);
    const scale = this.maxGradNorm !== undefined && gradNorm > this.maxGradNorm ? this.maxGradNorm / gradNorm : 1;
    this.t++;
    const correction1 = 1 - this.beta1 ** this.t;
    const correction2 = 1 - this.beta2 ** this.t;
    this.parameters.forEach((p, i) => {
      const g = grads[i]!;
      const m = this.m[i]!;
      const v = this.v[i]!;
      if (g.length !== p.length) throw new RangeError(`gradient ${i} must hold ${p.length} values, got ${g.length}`);
      for (let k = 0; k < p.length; k++) {
        const gk = g[k]! * scale;
        m[k] = this.beta1 * m[k]! + (1 - this.beta1) * gk;
        v[k] = this.beta2 * v[k]! + (1 - this.beta2) * gk * gk;
        p[k]! -= (this.lr * (m[k]! / correction1)) / (Math.sqrt(v[k]! / correction2) + this.eps);
      }
    });
    return { gradNorm };
  }
}

export function sigmoid(x: number): number {
  // Two branches so exp never overflows.
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export function logSoftmaxRows(logits: Float64Array, rows: number, width: number): Float64Array {
  if (logits.length !== rows * width) throw new RangeError(`expected ${rows} x ${width} logits, got ${logits.length}`);
  const out = new Float64Array(logits.length);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let max = -Infinity;
    for (let j = 0; j < width; j++) max = Math.max(max, logits[o + j]!);
    let sum = 0;
    for (let j = 0; j < width; j++) sum += Math.exp(logits[o + j]! - max);
    const logSum = max + Math.log(sum);
    for (let j = 0; j < width; j++) out[o + j] = logits[o + j]! - logSum;
  }
  return out;
}

export function softmaxRows(logits: Float64Array, rows: number, width: number): Float64Array {
  const out = logSoftmaxRows(logits, rows, width);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i]!);
  return out;
}

/** One shuffled pass over `count` samples in minibatches: their indices and stacked feature rows. */
export function* minibatches(count: number, width: number, batchSize: number, random: Random, featuresOf: (index: number) => Float64Array): Generator<{ indices: number[]; x: Float64Array }> {
  const order = shuffledIndices(count, random);
  for (let from = 0; from < order.length; from += batchSize) {
    const indices = order.slice(from, from + batchSize);
    const x = new Float64Array(indices.length * width);
    indices.forEach((i, r) => x.set(featuresOf(i), r * width));
    yield { indices, x };
  }
}
