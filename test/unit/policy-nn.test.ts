import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { seededRandom, type Random } from '../../common/random.js';
import { buildMlpGraph, type OutputActivation } from '../../training/policy/mlp-graph.js';
import { Adam, globalNorm, logSoftmaxRows, Mlp, sigmoid, softmaxRows, type Activation } from '../../training/policy/nn.js';
import { sessionOptions } from '../../variant-server/runtime.js';

const ACTIVATIONS: Activation[] = ['tanh', 'relu'];

function gaussianRows(random: Random, rows: number, width: number): Float64Array {
  return Float64Array.from({ length: rows * width }, () => random.gaussian());
}

/** Mean logistic loss of one-logit outputs against 0/1 labels, and its gradient w.r.t. the logits. */
function logisticLoss(logits: Float64Array, labels: number[]): { loss: number; grad: Float64Array } {
  const rows = labels.length;
  let loss = 0;
  const grad = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const z = logits[r]!;
    loss += Math.max(z, 0) - z * labels[r]! + Math.log1p(Math.exp(-Math.abs(z)));
    grad[r] = (sigmoid(z) - labels[r]!) / rows;
  }
  return { loss: loss / rows, grad };
}

/** x0 > 0 -> 1: a tiny problem any small net should fit. */
function signProblem(rows: number) {
  const x = gaussianRows(seededRandom(7), rows, 3);
  const labels = Array.from({ length: rows }, (_, r) => (x[r * 3]! > 0 ? 1 : 0));
  return { x, labels };
}

describe('Mlp', () => {
  for (const hidden of ACTIVATIONS) {
    it(`backward matches finite differences (${hidden})`, () => {
      const random = seededRandom(3);
      const mlp = new Mlp({ sizes: [5, 7, 6, 3], hidden }, random);
      // Non-zero biases so their gradients are exercised away from the initial point.
      for (const p of mlp.parameters()) for (let i = 0; i < p.length; i++) p[i]! += 0.1 * random.gaussian();
      const rows = 4;
      const x = gaussianRows(random, rows, 5);
      const coefficients = gaussianRows(random, rows, 3);
      const loss = (): number => {
        const out = mlp.forward(x, rows).output;
        return out.reduce((sum, y, i) => sum + coefficients[i]! * y * y, 0);
      };
      const forward = mlp.forward(x, rows);
      const gradOutput = forward.output.map((y, i) => 2 * coefficients[i]! * y);
      const analytic = mlp.backward(forward, gradOutput);

      const h = 1e-6;
      const numeric = mlp.parameters().map((p) => {
        const g = new Float64Array(p.length);
        for (let i = 0; i < p.length; i++) {
          const saved = p[i]!;
          p[i] = saved + h;
          const plus = loss();
          p[i] = saved - h;
          const minus = loss();
          p[i] = saved;
          g[i] = (plus - minus) / (2 * h);
        }
        return g;
      });
      assert.equal(analytic.length, numeric.length);
      const difference = globalNorm(analytic.map((a, i) => a.map((v, k) => v - numeric[i]![k]!)));
      const relative = difference / (globalNorm(analytic) + globalNorm(numeric));
      assert.ok(relative < 1e-5, `relative error ${relative}`);
      analytic.forEach((a, i) => assert.equal(a.length, mlp.parameters()[i]!.length));
    });
  }

  it('initializes deterministically from the seed', () => {
    const spec = { sizes: [27, 64, 64, 4], hidden: 'tanh' as const };
    const a = new Mlp(spec, seededRandom(42)).parameters();
    const b = new Mlp(spec, seededRandom(42)).parameters();
    const c = new Mlp(spec, seededRandom(43)).parameters();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a[0], c[0]);
    assert.deepEqual(a.map((p) => p.length), [27 * 64, 64, 64 * 64, 64, 64 * 4, 4]);
    for (const bias of [a[1]!, a[3]!, a[5]!]) assert.ok(bias.every((v) => v === 0));
  });

  it('scales the initial output layer by outputGain', () => {
    const spec = { sizes: [6, 8, 4], hidden: 'relu' as const };
    const plain = new Mlp(spec, seededRandom(5)).parameters();
    const small = new Mlp({ ...spec, outputGain: 0.01 }, seededRandom(5)).parameters();
    assert.deepEqual(small[0], plain[0]);
    small[2]!.forEach((v, i) => assert.ok(Math.abs(v - 0.01 * plain[2]![i]!) < 1e-15));
  });

  it('round-trips through toJSON/fromJSON and clone', () => {
    const mlp = new Mlp({ sizes: [4, 5, 2], hidden: 'relu', outputGain: 0.5 }, seededRandom(9));
    mlp.maskInputs([true, false, true, true]);
    const x = gaussianRows(seededRandom(10), 6, 4);
    const restored = Mlp.fromJSON(JSON.parse(JSON.stringify(mlp)));
    assert.deepEqual(restored.forward(x, 6).output, mlp.forward(x, 6).output);
    assert.deepEqual(restored.spec, mlp.spec);
    assert.deepEqual(restored.inputMask, [true, false, true, true]);
    const copy = mlp.clone();
    assert.deepEqual(copy.forward(x, 6).output, mlp.forward(x, 6).output);
    copy.parameters()[1]![0] = 1;
    assert.equal(mlp.parameters()[1]![0], 0, 'clone shares no arrays');
  });

  it('rejects inputs of the wrong width', () => {
    const mlp = new Mlp({ sizes: [3, 2], hidden: 'tanh' }, seededRandom(1));
    assert.throws(() => mlp.forward(new Float64Array(5), 2), RangeError);
  });

  it('keeps masked input rows at zero while training', () => {
    const { x, labels } = signProblem(32);
    const mlp = new Mlp({ sizes: [3, 8, 1], hidden: 'tanh' }, seededRandom(2));
    mlp.maskInputs([true, true, false]);
    const before = mlp.parameters().map((p) => p.slice());
    const adam = new Adam(mlp.parameters(), { lr: 0.05 });
    for (let step = 0; step < 20; step++) {
      const forward = mlp.forward(x, 32);
      adam.step(mlp.backward(forward, logisticLoss(forward.output, labels).grad));
    }
    const w0 = mlp.parameters()[0]!;
    assert.ok(w0.subarray(2 * 8, 3 * 8).every((v) => v === 0), 'masked row stays zero');
    assert.notDeepEqual(w0.subarray(0, 2 * 8), before[0]!.subarray(0, 2 * 8), 'unmasked rows train');
    // The masked feature has no influence on the output.
    const shifted = x.map((v, i) => (i % 3 === 2 ? v + 100 : v));
    assert.deepEqual(mlp.forward(shifted, 32).output, mlp.forward(x, 32).output);
  });
});

describe('Adam', () => {
  for (const hidden of ACTIVATIONS) {
    it(`fits a small logistic regression (${hidden}): loss < 0.05 within 200 steps`, () => {
      const rows = 64;
      const { x, labels } = signProblem(rows);
      const mlp = new Mlp({ sizes: [3, 16, 1], hidden }, seededRandom(1));
      const adam = new Adam(mlp.parameters(), { lr: 0.02 });
      const initial = logisticLoss(mlp.forward(x, rows).output, labels).loss;
      for (let step = 0; step < 200; step++) {
        const forward = mlp.forward(x, rows);
        adam.step(mlp.backward(forward, logisticLoss(forward.output, labels).grad));
      }
      const final = logisticLoss(mlp.forward(x, rows).output, labels).loss;
      assert.ok(initial > 0.5, `initial loss ${initial}`);
      assert.ok(final < 0.05, `final loss ${final}`);
      assert.equal(adam.steps, 200);
    });
  }

  it('clips the global gradient norm', () => {
    // With a huge eps Adam's first step is about lr * g / eps, so the step size reveals the clipped gradient.
    const run = (maxGradNorm?: number) => {
      const parameters = [new Float64Array(3), new Float64Array(4)];
      const grads = [Float64Array.from([30, 40, 0]), Float64Array.from([0, 0, 0, 0])];
      const adam = new Adam(parameters, { lr: 1e3, eps: 1e9, ...(maxGradNorm === undefined ? {} : { maxGradNorm }) });
      const { gradNorm } = adam.step(grads);
      assert.deepEqual(grads[0], Float64Array.from([30, 40, 0]), 'gradients are not modified');
      return { gradNorm, moved: globalNorm(parameters) };
    };
    const clipped = run(1);
    const unclipped = run();
    assert.equal(clipped.gradNorm, 50, 'reports the norm before clipping');
    assert.equal(unclipped.gradNorm, 50);
    assert.ok(Math.abs(clipped.moved - 1e-6) < 1e-9, `clipped step ${clipped.moved}`);
    assert.ok(Math.abs(unclipped.moved - 50e-6) < 1e-9, `unclipped step ${unclipped.moved}`);
    assert.ok(Math.abs(run(100).moved - 50e-6) < 1e-9, 'norms under the cap are left alone');
  });

  it('lets the learning rate change between steps', () => {
    const parameters = [new Float64Array(1)];
    const adam = new Adam(parameters, { lr: 0.1 });
    adam.step([Float64Array.from([1])]);
    assert.ok(Math.abs(parameters[0]![0]! + 0.1) < 1e-9);
    adam.lr = 0;
    adam.step([Float64Array.from([1])]);
    assert.ok(Math.abs(parameters[0]![0]! + 0.1) < 1e-9);
  });
});

describe('softmax helpers', () => {
  it('normalizes rows stably', () => {
    const logits = Float64Array.from([1, 2, 3, 1000, 1000, -1000]);
    const p = softmaxRows(logits, 2, 3);
    assert.ok(Math.abs(p[0]! + p[1]! + p[2]! - 1) < 1e-12);
    assert.ok(Math.abs(p[3]! - 0.5) < 1e-12 && Math.abs(p[4]! - 0.5) < 1e-12 && p[5] === 0);
    const logP = logSoftmaxRows(logits, 2, 3);
    assert.ok(Math.abs(logP[0]! - Math.log(p[0]!)) < 1e-12);
    assert.ok(Number.isFinite(logP[5]!) && logP[5]! < -1999);
    assert.equal(sigmoid(0), 0.5);
    assert.equal(sigmoid(-1000), 0);
    assert.equal(sigmoid(1000), 1);
  });
});

describe('buildMlpGraph', () => {
  const outputActivations: OutputActivation[] = ['none', 'sigmoid', 'softmax'];

  function reference(mlp: Mlp, x: Float64Array, rows: number, activation: OutputActivation): Float64Array {
    const out = mlp.forward(x, rows).output;
    if (activation === 'sigmoid') return out.map(sigmoid);
    if (activation === 'softmax') return softmaxRows(out, rows, mlp.outputWidth);
    return out;
  }

  for (const hidden of ACTIVATIONS) {
    for (const outputActivation of outputActivations) {
      it(`matches Mlp.forward in onnxruntime (${hidden}, ${outputActivation})`, async () => {
        const sizes = [27, 16, 12, 4];
        const mlp = new Mlp({ sizes, hidden }, seededRandom(11));
        for (const p of mlp.parameters()) {
          const random = seededRandom(p.length);
          for (let i = 0; i < p.length; i++) p[i]! += 0.05 * random.gaussian();
        }
        const graph = buildMlpGraph(mlp, { input: 'features', output: 'scores', outputActivation, name: 'test-policy' });
        const session = await ort.InferenceSession.create(graph, sessionOptions(['cpu']));
        try {
          assert.deepEqual(session.inputNames, ['features']);
          assert.deepEqual(session.outputNames, ['scores']);
          const [input] = session.inputMetadata;
          const [output] = session.outputMetadata;
          assert.ok(input?.isTensor && output?.isTensor);
          assert.deepEqual([input.type, input.shape[1]], ['float32', 27]);
          assert.deepEqual([output.type, output.shape[1]], ['float32', 4]);

          const rows = 9;
          const x32 = Float32Array.from(gaussianRows(seededRandom(12), rows, 27));
          const result = await session.run({ features: new ort.Tensor('float32', x32, [rows, 27]) });
          const scores = result.scores!;
          assert.deepEqual(scores.dims, [rows, 4]);
          const actual = scores.data as Float32Array;
          const expected = reference(mlp, Float64Array.from(x32), rows, outputActivation);
          expected.forEach((v, i) => assert.ok(Math.abs(v - actual[i]!) < 1e-5, `output ${i}: ${actual[i]} vs ${v}`));
        } finally {
          await session.release();
        }
      });
    }
  }

  it('exports a single-layer net with default options', async () => {
    const mlp = new Mlp({ sizes: [3, 1], hidden: 'relu' }, seededRandom(4));
    const session = await ort.InferenceSession.create(buildMlpGraph(mlp, { input: 'x', output: 'y' }), sessionOptions(['cpu']));
    try {
      const x = Float32Array.from([1, -2, 0.5]);
      const result = await session.run({ x: new ort.Tensor('float32', x, [1, 3]) });
      const y = (result.y!.data as Float32Array)[0]!;
      assert.ok(Math.abs(y - mlp.forward(Float64Array.from(x), 1).output[0]!) < 1e-6);
    } finally {
      await session.release();
    }
  });
});
