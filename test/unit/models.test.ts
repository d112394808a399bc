import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { WORKLOADS, workloadSplit } from '../../training/data/workloads.js';
import { compareArrays, FP32_TOLERANCE, INT8_TOLERANCE } from '../../training/variants/compare.js';
import { argmaxRows } from '../../variant-server/tensors.js';
import { float32FromBase64 } from '../../training/variants/exchange.js';
import { buildVariantGraphs } from '../../training/variants/onnx-graph.js';
import { ROLES_IN_COST_ORDER, type Role } from '../../training/variants/roles.js';
import { loadVariant, type VariantRuntime } from '../../variant-server/runtime.js';

const { onnx } = onnxProto;

interface Card {
  role: Role;
  dims: number[];
  accuracy: number;
  bytes: number;
  sha256: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

interface Reference {
  rows: number;
  input: string;
  outputs: Record<Role, { embedding: string; logits: string }>;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const macs = (dims: number[]) => dims.slice(1).reduce((sum, out, i) => sum + dims[i]! * out, 0);

for (const workload of WORKLOADS) {
  const dir = join('models', workload);
  describe(`reference models: ${workload}`, function () {
    this.timeout(120_000);
    const runtimes = {} as Record<Role, VariantRuntime>;
    const cards = {} as Record<Role, Card>;
    let reference: Reference;

    before(async () => {
      assert.ok(existsSync(join(dir, 'reference.json')), `${dir} is missing: run npm run models:build -- --workload ${workload}`);
      reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
      for (const role of ROLES_IN_COST_ORDER) {
        cards[role] = JSON.parse(readFileSync(join(dir, role, 'card.json'), 'utf8')) as Card;
        runtimes[role] = await loadVariant(join(dir, role), { device: 'cpu' });
      }
    });
    after(async () => {
      for (const runtime of Object.values(runtimes)) await runtime.close();
    });

    it('model cards carry the sha256 and size of the committed graphs', () => {
      for (const role of ROLES_IN_COST_ORDER) {
        const encoder = readFileSync(join(dir, role, 'encoder.onnx'));
        const head = readFileSync(join(dir, role, 'head.onnx'));
        const card = cards[role];
        assert.equal(card.files['encoder.onnx']!.sha256, sha256(encoder), `${role} encoder sha256`);
        assert.equal(card.files['head.onnx']!.sha256, sha256(head), `${role} head sha256`);
        assert.equal(card.sha256, createHash('sha256').update(encoder).update(head).digest('hex'));
        assert.equal(card.bytes, encoder.byteLength + head.byteLength);
      }
    });

    for (const role of ROLES_IN_COST_ORDER) {
      it(`${role}: encoder and head reproduce PyTorch on the verification batch`, async () => {
        const runtime = runtimes[role];
        const input = float32FromBase64(reference.input);
        const expected = reference.outputs[role];
        const tolerance = role === 'quantized' ? INT8_TOLERANCE : FP32_TOLERANCE;
        const embedding = new Float32Array(reference.rows * runtime.embeddingDim);
        const logits = new Float32Array(reference.rows * runtime.classes);
        for (let r = 0; r < reference.rows; r++) {
          const e = await runtime.encode(input.slice(r * runtime.inputDim, (r + 1) * runtime.inputDim), 1);
          embedding.set(e, r * runtime.embeddingDim);
          logits.set((await runtime.classify(e, 1)).logits, r * runtime.classes);
        }
        const embeddingAgreement = compareArrays(embedding, float32FromBase64(expected.embedding), tolerance);
        const logitsAgreement = compareArrays(logits, float32FromBase64(expected.logits), tolerance);
        assert.ok(embeddingAgreement.withinTolerance, `embedding max abs error ${embeddingAgreement.maxAbsError}`);
        assert.ok(logitsAgreement.withinTolerance, `logits max abs error ${logitsAgreement.maxAbsError}`);
      });
    }

    it('encoder then head at batch 16 equals the per-request path (fp32 variants)', async () => {
      const input = float32FromBase64(reference.input);
      for (const role of ['full', 'pruned', 'distilled'] as const) {
        const runtime = runtimes[role];
        const batched = await runtime.classify(await runtime.encode(input, reference.rows), reference.rows);
        for (let r = 0; r < reference.rows; r++) {
          const single = await runtime.classify(await runtime.encode(input.slice(r * runtime.inputDim, (r + 1) * runtime.inputDim), 1), 1);
          const agreement = compareArrays(batched.probabilities.subarray(r * runtime.classes, (r + 1) * runtime.classes), single.probabilities, FP32_TOLERANCE);
          assert.ok(agreement.withinTolerance, `${role} row ${r}: ${agreement.maxAbsError}`);
        }
      }
    });

    it('the quantized encoder runs integer kernels on int8 weights', () => {
      const model = onnx.ModelProto.decode(readFileSync(join(dir, 'quantized', 'encoder.onnx')));
      const ops = new Set(model.graph!.node!.map((node) => node.opType));
      assert.ok(ops.has('DynamicQuantizeLinear') && ops.has('MatMulInteger'), [...ops].join(','));
      assert.ok(!ops.has('MatMul'), 'no fp32 MatMul left in the quantized encoder');
      const weights = model.graph!.initializer!.filter((t) => t.name!.endsWith('weight_q'));
      assert.ok(weights.length >= 1 && weights.every((t) => t.dataType === onnx.TensorProto.DataType.INT8));
    });

    it('the pruned model really has fewer hidden units and bytes than the full one', () => {
      const full = cards.full;
      const pruned = cards.pruned;
      assert.equal(pruned.dims.length, full.dims.length);
      pruned.dims.slice(1, -1).forEach((units, i) => assert.ok(units < full.dims[i + 1]!, `layer ${i + 1}: ${units} units`));
      assert.ok(pruned.bytes < full.bytes / 4, `pruned ${pruned.bytes} bytes vs full ${full.bytes}`);
    });

    it('held-out accuracy: the card figures reproduce, full leads pruned and distilled, the cheapest trails by >= 2 points', async () => {
      const { test } = workloadSplit(workload);
      const measured = {} as Record<Role, number>;
      for (const role of ROLES_IN_COST_ORDER) {
        const runtime = runtimes[role];
        const batch = role === 'quantized' ? 1 : 500;
        let correct = 0;
        for (let start = 0; start < test.labels.length; start += batch) {
          const rows = Math.min(batch, test.labels.length - start);
          const x = test.features.subarray(start * test.dim, (start + rows) * test.dim);
          const { logits } = await runtime.classify(await runtime.encode(x, rows), rows);
          argmaxRows(logits, rows).forEach((p, i) => { if (p === test.labels[start + i]) correct += 1; });
        }
        measured[role] = correct / test.labels.length;
        assert.equal(measured[role], cards[role].accuracy, `${role} accuracy differs from its card`);
      }
      // int8 weights with uint8 activations cost no measurable accuracy on these workloads: the
      // quantized variant ties full within a few test rows either way, so it is held to a
      // 0.2-point band; the pruned and distilled variants must not beat full at all.
      assert.ok(measured.full >= measured.pruned, `pruned ${measured.pruned} beats full ${measured.full}`);
      assert.ok(measured.full >= measured.distilled, `distilled ${measured.distilled} beats full ${measured.full}`);
      assert.ok(Math.abs(measured.full - measured.quantized) <= 0.002, `quantized ${measured.quantized} vs full ${measured.full}`);
      const cheapest = [...ROLES_IN_COST_ORDER].sort((a, b) => macs(cards[a].dims) - macs(cards[b].dims))[0]!;
      assert.ok(measured.full - measured[cheapest] >= 0.02, `${cheapest} trails full by only ${measured.full - measured[cheapest]}`);
    });
  });
}

describe('ONNX graph builder', () => {
  const fp32 = (inputs: number, outputs: number) => ({
    kind: 'fp32' as const,
    in: inputs,
    out: outputs,
    weight: new Float32Array(inputs * outputs).fill(0.5),
    bias: new Float32Array(outputs),
  });

  it('rejects layer chains that do not fit', () => {
    assert.throws(() => buildVariantGraphs('x', [fp32(4, 3)]), /at least one hidden layer/);
    assert.throws(() => buildVariantGraphs('x', [fp32(4, 3), fp32(2, 2)]), /layer 1 takes 2 inputs but layer 0 gives 3/);
    assert.throws(() => buildVariantGraphs('x', [{ ...fp32(4, 3), bias: new Float32Array(2) }, fp32(3, 2)]), /layer 0: bias has 2 values, expected 3/);
  });

  it('builds graphs onnxruntime runs: relu hidden layers, softmax probabilities', async () => {
    const graphs = buildVariantGraphs('tiny', [fp32(2, 3), { ...fp32(3, 2), weight: Float32Array.from([1, 0, 0, 1, 1, -1]) }]);
    assert.equal(graphs.embeddingDim, 3);
    const encoder = await ort.InferenceSession.create(graphs.encoder);
    const head = await ort.InferenceSession.create(graphs.head);
    const features = new ort.Tensor('float32', Float32Array.from([1, -3]), [1, 2]);
    const embedding = (await encoder.run({ features })).embedding!;
    assert.deepEqual([...(embedding.data as Float32Array)], [0, 0, 0]);
    const out = await head.run({ embedding: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]) });
    assert.deepEqual([...(out.logits!.data as Float32Array)], [4, -1]);
    const probabilities = out.probabilities!.data as Float32Array;
    assert.ok(Math.abs(probabilities[0]! - 1 / (1 + Math.exp(-5))) < 1e-6);
  });
});
