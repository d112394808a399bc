import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROLES } from '../../crds/types.js';
import { openDifficultyEstimator } from '../../router-sidecar/local-models.js';
import { ESTIMATOR_INPUT, ESTIMATOR_OUTPUT } from '../../router-sidecar/policy/estimator-model.js';
import { estimatorSignals } from '../../router-sidecar/policy/estimator-signals.js';
import { seededRandom } from '../../common/random.js';
import { buildMlpGraph } from '../../training/policy/mlp-graph.js';
import { Mlp, sigmoid } from '../../training/policy/nn.js';
import { loadVariant } from '../../variant-server/runtime.js';
import { fuseProbeGraph, ProbeGraphError } from '../../router-sidecar/policy/probe-graph.js';
import { readFileSync } from 'node:fs';

const MODELS = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'models', 'sessions-32');
const distilled = { role: 'distilled' as const, name: 'd', endpoint: 'http://127.0.0.1:1', modelVersion: '1', modelUri: pathToFileURL(path.join(MODELS, 'distilled')).href };

describe('router difficulty from a trained estimator', () => {
  it('orders the distilled probabilities descending, then the embedding', () => {
    const signals = estimatorSignals(Float32Array.from([0.2, 0.8, 0.9, 0.1]), Float32Array.from([1, 2, 3, 4]), 2);
    assert.deepEqual(Array.from(signals), [0.8, 0.2, 1, 2, 0.9, 0.1, 3, 4].map(Math.fround));
  });

  it('runs the distilled model then the estimator, and reports each role\'s probability and 1 - their mean', async () => {
    const runtime = await loadVariant(path.join(MODELS, 'distilled'), { device: 'cpu' });
    const width = runtime.classes + runtime.embeddingDim;
    const mlp = new Mlp({ sizes: [width, 8, ROLES.length], hidden: 'tanh' }, seededRandom(3));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'estimator-'));
    const file = path.join(dir, 'estimator.onnx');
    writeFileSync(file, buildMlpGraph(mlp, { input: ESTIMATOR_INPUT, output: ESTIMATOR_OUTPUT, outputActivation: 'sigmoid' }));
    const estimator = await openDifficultyEstimator(distilled, undefined, file);
    try {
      assert.equal(estimator.source, 'trained-estimator');
      const features = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i));
      const estimate = await estimator.estimate(features, 1);
      // The same computation by hand: distilled model, signals, the network in float64.
      const embedding = await runtime.encode(features, 1);
      const { probabilities } = await runtime.classify(embedding, 1);
      const expected = Array.from(mlp.forward(Float64Array.from(estimatorSignals(probabilities, embedding, 1)), 1).output, sigmoid);
      assert.equal(estimate.correctness!.length, ROLES.length);
      estimate.correctness!.forEach((p, k) => assert.ok(Math.abs(p - expected[k]!) < 1e-5, `${ROLES[k]}: ${p} vs ${expected[k]}`));
      const mean = expected.reduce((a, b) => a + b, 0) / ROLES.length;
      assert.ok(Math.abs(estimate.difficulty - (1 - mean)) < 1e-5);
    } finally {
      await estimator.close();
      await runtime.close();
    }
  });

  it('refuses an estimator of the wrong input width, naming both tensors', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'estimator-'));
    const file = path.join(dir, 'estimator.onnx');
    writeFileSync(file, buildMlpGraph(new Mlp({ sizes: [5, ROLES.length], hidden: 'tanh' }, seededRandom(1)), { input: ESTIMATOR_INPUT, output: ESTIMATOR_OUTPUT }));
    await assert.rejects(openDifficultyEstimator(distilled, undefined, file), /must map signals \[batch, 18\] to correctness \[batch, 4\], got signals width 5/);
  });

  it('falls back to the distilled margin without an estimator', async () => {
    const estimator = await openDifficultyEstimator(distilled, undefined);
    try {
      assert.equal(estimator.source, 'distilled-margin');
      const estimate = await estimator.estimate(new Float32Array(32), 1);
      assert.equal(estimate.correctness, undefined);
      assert.ok(estimate.difficulty >= 0 && estimate.difficulty <= 1);
    } finally {
      await estimator.close();
    }
  });

  it("answers with the distilled variant's own outputs from one fused graph, batch included", async () => {
    const runtime = await loadVariant(path.join(MODELS, 'distilled'), { device: 'cpu' });
    const estimator = await openDifficultyEstimator(distilled, undefined, path.join(MODELS, 'policy', 'estimator.onnx'));
    try {
      const features = Float32Array.from({ length: 3 * 32 }, (_, i) => Math.cos(i * 0.7));
      const embedding = await runtime.encode(features, 3);
      const { probabilities } = await runtime.classify(embedding, 3);
      const estimate = await estimator.estimate(features, 3);
      assert.deepEqual(Array.from(estimate.distilled!.embedding), Array.from(embedding));
      assert.deepEqual(Array.from(estimate.distilled!.probabilities), Array.from(probabilities));
      const answered = await estimator.answerDistilled!(features, 3);
      assert.deepEqual(Array.from(answered.probabilities), Array.from(probabilities));
      assert.equal(answered.rows, 3);
    } finally {
      await estimator.close();
      await runtime.close();
    }
  });

  it('refuses graphs that are not ONNX, naming which one', () => {
    const encoder = readFileSync(path.join(MODELS, 'distilled', 'encoder.onnx'));
    const shape = { inputDim: 32, embeddingDim: 16, classes: 2 };
    assert.throws(() => fuseProbeGraph(encoder, Buffer.from('not a model at all'), shape), (e: unknown) => e instanceof ProbeGraphError && /^head: /.test(e.message));
    assert.throws(() => fuseProbeGraph(new Uint8Array(0), encoder, shape), (e: unknown) => e instanceof ProbeGraphError && /^encoder: /.test(e.message));
  });
});
