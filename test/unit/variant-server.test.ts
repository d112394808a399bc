// The variant server in-process on a random port, spoken to over real HTTP with fetch.
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import { loadVariant, type VariantRuntime } from '../../variant-server/runtime.js';
import { startVariantServer, type VariantServer } from '../../variant-server/server.js';
import { metricValue } from '../support/operator.js';
import {
  inferBody,
  output,
  quietLogger,
  referenceOutput,
  referenceRows,
  request,
  row,
  TEST_INPUT_DIM,
  TEST_MODEL_DIR,
  TEST_MODEL_NAME,
  type InferBody,
} from '../support/variant-server.js';

const NAME = TEST_MODEL_NAME;
const f32 = (values: number[]) => Float32Array.from(values);

describe('variant server (OIP v2 over HTTP)', () => {
  let server: VariantServer;
  let runtime: VariantRuntime;
  const { data: reference } = referenceRows();
  const rows = 4;
  const features = reference.subarray(0, rows * TEST_INPUT_DIM);

  before(async () => {
    server = await startVariantServer({ model: TEST_MODEL_DIR, port: 0, logger: quietLogger(), bodyLimitBytes: 256 * 1024 });
    runtime = await loadVariant(TEST_MODEL_DIR, { device: 'cpu' });
  });

  after(async () => {
    await server?.close();
    await runtime?.close();
  });

  it('answers health and server metadata', async () => {
    const live = await request(`${server.url}/v2/health/live`);
    assert.deepEqual([live.status, live.body], [200, { live: true }]);
    const ready = await request(`${server.url}/v2/health/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.ready, true);
    const meta = await request(`${server.url}/v2`);
    assert.equal(meta.status, 200);
    assert.equal(meta.body.name, 'inference-cascade-variant-server');
    assert.equal(typeof meta.body.version, 'string');
    assert.ok(Array.isArray(meta.body.extensions));
  });

  it('names the model <workload>-<role> from card.json and describes its three graphs', async () => {
    assert.equal(server.name, NAME);
    const model = await request(`${server.url}/v2/models/${NAME}`);
    assert.equal(model.status, 200);
    assert.equal(model.body.name, NAME);
    assert.equal(model.body.platform, 'onnxruntime');
    assert.deepEqual(model.body.versions, [server.version]);
    assert.deepEqual(model.body.inputs, [{ name: 'features', datatype: 'FP32', shape: [-1, 784] }]);
    assert.deepEqual(model.body.outputs, [
      { name: 'embedding', datatype: 'FP32', shape: [-1, 32] },
      { name: 'logits', datatype: 'FP32', shape: [-1, 10] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
      { name: 'prediction', datatype: 'INT64', shape: [-1] },
    ]);
    const parameters = model.body.parameters as Record<string, unknown>;
    assert.equal(parameters.workload, 'digits');
    assert.equal(parameters.role, 'distilled');
    assert.equal(parameters.dynamic_batching, false);
    assert.equal(parameters.batching_exact, true);

    const encoder = await request(`${server.url}/v2/models/${NAME}.encoder`);
    assert.deepEqual(encoder.body.inputs, [{ name: 'features', datatype: 'FP32', shape: [-1, 784] }]);
    assert.deepEqual(
      (encoder.body.outputs as { name: string }[]).map((o) => o.name),
      ['embedding'],
    );
    const head = await request(`${server.url}/v2/models/${NAME}.head`);
    assert.deepEqual(head.body.inputs, [{ name: 'embedding', datatype: 'FP32', shape: [-1, 32] }]);
    assert.deepEqual(
      (head.body.outputs as { name: string }[]).map((o) => o.name),
      ['logits', 'probabilities', 'prediction'],
    );

    for (const name of [NAME, `${NAME}.encoder`, `${NAME}.head`]) {
      const ready = await request(`${server.url}/v2/models/${name}/ready`);
      assert.deepEqual([ready.status, ready.body], [200, { name, ready: true }]);
    }
    const versioned = await request(`${server.url}/v2/models/${NAME}/versions/${server.version}`);
    assert.equal(versioned.status, 200);
  });

  it('infers on {name} exactly like the runtime, and like PyTorch within the card tolerance', async () => {
    const res = await request<InferBody>(`${server.url}/v2/models/${NAME}/infer`, {
      body: inferBody('features', rows, features, { id: 'round-trip-1' }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.model_name, NAME);
    assert.equal(res.body.model_version, server.version);
    assert.equal(res.body.id, 'round-trip-1');
    assert.deepEqual(
      res.body.outputs.map((o) => [o.name, o.datatype, o.shape]),
      [
        ['embedding', 'FP32', [rows, 32]],
        ['logits', 'FP32', [rows, 10]],
        ['probabilities', 'FP32', [rows, 10]],
        ['prediction', 'INT64', [rows]],
      ],
    );
    const embedding = await runtime.encode(Float32Array.from(features), rows);
    const { logits, probabilities } = await runtime.classify(embedding, rows);
    assert.deepEqual(f32(output(res.body, 'embedding').data), embedding);
    assert.deepEqual(f32(output(res.body, 'logits').data), logits);
    assert.deepEqual(f32(output(res.body, 'probabilities').data), probabilities);

    const torchLogits = referenceOutput('distilled', 'logits').subarray(0, rows * 10);
    const served = output(res.body, 'logits').data;
    served.forEach((v, i) =>
      assert.ok(Math.abs(v - torchLogits[i]!) <= 1e-4 + 1e-3 * Math.abs(torchLogits[i]!), `logit ${i}: ${v} vs ${torchLogits[i]}`),
    );
    const argmax = (values: ArrayLike<number>, r: number) => {
      let best = 0;
      for (let c = 1; c < 10; c++) if (values[r * 10 + c]! > values[r * 10 + best]!) best = c;
      return best;
    };
    assert.deepEqual(
      output(res.body, 'prediction').data,
      Array.from({ length: rows }, (_, r) => argmax(torchLogits, r)),
    );
  });

  it('gives the same outputs from .encoder then .head as from {name}', async () => {
    const whole = await request<InferBody>(`${server.url}/v2/models/${NAME}/infer`, { body: inferBody('features', rows, features) });
    const encoded = await request<InferBody>(`${server.url}/v2/models/${NAME}.encoder/infer`, {
      body: inferBody('features', rows, features),
    });
    assert.equal(encoded.status, 200);
    assert.deepEqual(
      encoded.body.outputs.map((o) => o.name),
      ['embedding'],
    );
    assert.equal(encoded.body.model_name, `${NAME}.encoder`);
    const embedding = output(encoded.body, 'embedding');
    assert.deepEqual(embedding.shape, [rows, 32]);
    // Nested data this time: [[...32], [...32], ...].
    const nested = Array.from({ length: rows }, (_, r) => embedding.data.slice(r * 32, (r + 1) * 32));
    const head = await request<InferBody>(`${server.url}/v2/models/${NAME}.head/infer`, {
      body: { inputs: [{ name: 'embedding', shape: [rows, 32], datatype: 'FP32', data: nested }] },
    });
    assert.equal(head.status, 200, JSON.stringify(head.body));
    assert.deepEqual(embedding, output(whole.body, 'embedding'));
    for (const name of ['logits', 'probabilities', 'prediction']) assert.deepEqual(output(head.body, name), output(whole.body, name));
  });

  it('honours the outputs filter and the versioned infer URL', async () => {
    const res = await request<InferBody>(`${server.url}/v2/models/${NAME}/versions/${server.version}/infer`, {
      body: inferBody('features', 1, features.subarray(0, TEST_INPUT_DIM), { outputs: [{ name: 'prediction' }] }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.outputs.map((o) => o.name),
      ['prediction'],
    );
    const wrongVersion = await request(`${server.url}/v2/models/${NAME}/versions/nope/infer`, {
      body: inferBody('features', 1, features.subarray(0, TEST_INPUT_DIM)),
    });
    assert.equal(wrongVersion.status, 404);
    assert.match(wrongVersion.body.error as string, /has no version "nope"/);
  });

  it('serves the prototype POST /predict, with the embedding on ?embedding=1', async () => {
    const body = { features: [row(reference, 0), row(reference, 1)] };
    const plain = await request<{
      predictions: number[];
      probabilities: number[][];
      embedding?: number[][];
      model: string;
      latency_ms: number;
    }>(`${server.url}/predict`, { body });
    assert.equal(plain.status, 200);
    assert.equal(plain.body.model, NAME);
    assert.equal(plain.body.embedding, undefined);
    assert.equal(typeof plain.body.latency_ms, 'number');
    assert.ok(plain.body.latency_ms >= 0);
    const embedding = await runtime.encode(Float32Array.from(features.subarray(0, 2 * TEST_INPUT_DIM)), 2);
    const { probabilities } = await runtime.classify(embedding, 2);
    assert.deepEqual(
      plain.body.probabilities.map((p) => f32(p)),
      [probabilities.subarray(0, 10), probabilities.subarray(10, 20)],
    );
    const oip = await request<InferBody>(`${server.url}/v2/models/${NAME}/infer`, {
      body: inferBody('features', 2, features.subarray(0, 2 * TEST_INPUT_DIM)),
    });
    assert.deepEqual(plain.body.predictions, output(oip.body, 'prediction').data);
    const withEmbedding = await request<{ embedding: number[][] }>(`${server.url}/predict?embedding=1`, { body });
    assert.deepEqual(withEmbedding.body.embedding.flat(), Array.from(embedding));
  });

  it('answers 429 with Retry-After once max-queued requests wait, instead of queueing without bound', async () => {
    const bounded = await startVariantServer({ model: TEST_MODEL_DIR, port: 0, logger: quietLogger(), maxQueued: 1 });
    try {
      const body = { features: [row(reference, 0)] };
      const answers = await Promise.all(Array.from({ length: 60 }, () => fetch(`${bounded.url}/predict`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      }).then(async (response) => ({ status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { error?: string } }))));
      const refused = answers.filter((a) => a.status === 429);
      assert.ok(refused.length > 0, 'some of 60 concurrent requests find the queue full');
      assert.equal(refused.length + answers.filter((a) => a.status === 200).length, 60, 'every other request is answered');
      for (const a of refused) {
        assert.equal(a.retryAfter, '1');
        assert.match(a.body.error ?? '', /already waiting for the model \(max-queued 1\); retry later/);
      }
    } finally {
      await bounded.close();
    }
  });

  it('exports Prometheus metrics from its own registry', async () => {
    const text = (await request(`${server.url}/metrics`)).body.text as string;
    assert.ok(metricValue(text, 'inference_cascade_variant_requests_total', { endpoint: 'infer', model: NAME }) >= 3);
    assert.ok(metricValue(text, 'inference_cascade_variant_requests_total', { endpoint: 'infer', model: `${NAME}.head` }) >= 1);
    assert.ok(metricValue(text, 'inference_cascade_variant_requests_total', { endpoint: 'predict', model: NAME }) >= 2);
    assert.ok(metricValue(text, 'inference_cascade_variant_request_duration_seconds_count', { endpoint: 'infer' }) >= 3);
    assert.ok(metricValue(text, 'inference_cascade_variant_batch_size_count', { graph: 'model' }) >= 3);
    assert.equal(metricValue(text, 'inference_cascade_variant_requests_in_flight'), 0);
    assert.match(text, /^inference_cascade_variant_queue_depth 0$/m);
    assert.ok(metricValue(text, 'inference_cascade_variant_errors_total', { code: '404' }) >= 1);
    // Errors carry their endpoint, so a probe or metadata miss (or readiness answering 503 while the
    // model loads or drains) is told apart from an inference error.
    const errorsOf = (metrics: string, endpoint: string) => metricValue(metrics, 'inference_cascade_variant_errors_total', { code: '404', endpoint });
    const before = (await request(`${server.url}/metrics`)).body.text as string;
    assert.equal((await request(`${server.url}/v2/models/nope`)).status, 404);
    assert.equal((await request(`${server.url}/v2/models/nope/infer`, { body: inferBody('features', 1, features.subarray(0, TEST_INPUT_DIM)) })).status, 404);
    const after = (await request(`${server.url}/metrics`)).body.text as string;
    assert.equal(errorsOf(after, 'model_metadata') - (errorsOf(before, 'model_metadata') || 0), 1);
    assert.equal(errorsOf(after, 'infer') - (errorsOf(before, 'infer') || 0), 1);
  });

  describe('bad input', () => {
    const infer = `/v2/models/${NAME}/infer`;
    const one = () => Array.from(features.subarray(0, TEST_INPUT_DIM));
    const input = (fields: Record<string, unknown>) => ({
      inputs: [{ name: 'features', shape: [1, 784], datatype: 'FP32', data: one(), ...fields }],
    });
    const cases: Array<{
      what: string;
      path?: string;
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
      status: number;
      error: RegExp;
    }> = [
      { what: 'malformed JSON', raw: '{"inputs": [', status: 400, error: /^malformed JSON body: / },
      { what: 'an empty body', raw: '', status: 400, error: /request body is empty/ },
      { what: 'a body that is not an object', body: [1, 2], status: 400, error: /request body must be a JSON object/ },
      {
        what: 'a missing inputs array',
        body: { id: 'x' },
        status: 400,
        error: /"inputs" must be a non-empty array holding the input "features"/,
      },
      {
        what: 'a wrong input name',
        body: { inputs: [{ ...input({}).inputs[0], name: 'pixels' }] },
        status: 400,
        error: /input "pixels" is not an input of model "digits-distilled"/,
      },
      { what: 'a wrong datatype', body: input({ datatype: 'FP64' }), status: 400, error: /datatype must be "FP32", got the string "FP64"/ },
      {
        what: 'a shape that does not match the data',
        body: input({ shape: [2, 784] }),
        status: 400,
        error: /data holds 784 values but shape \[2, 784\] needs 1568/,
      },
      {
        what: 'a wrong feature count',
        body: input({ shape: [1, 783], data: one().slice(1) }),
        status: 400,
        error: /783 values per row but model "digits-distilled" takes 784/,
      },
      { what: 'an empty batch', body: input({ shape: [0, 784], data: [] }), status: 400, error: /empty batch/ },
      {
        what: 'non-number data',
        body: input({ data: [...one().slice(0, 5), 'abc', ...one().slice(6)] }),
        status: 400,
        error: /data\[5\] must be a number, got the string "abc"/,
      },
      {
        what: 'a "NaN" string',
        body: input({ data: ['NaN', ...one().slice(1)] }),
        status: 400,
        error: /data\[0\] must be a number, got the string "NaN"/,
      },
      {
        what: 'an overflowing literal (1e400 parses as Infinity)',
        raw: JSON.stringify(input({ data: [...one().slice(0, 783), 7777] })).replace('7777', '1e400'),
        status: 400,
        error: /data\[783\] must be a finite number, got Infinity/,
      },
      {
        what: 'an unknown requested output',
        body: { ...input({}), outputs: [{ name: 'scores' }] },
        status: 400,
        error: /requested output "scores" is not an output/,
      },
      {
        what: 'an unknown model',
        path: '/v2/models/nope/infer',
        body: input({}),
        status: 404,
        error: /unknown model "nope"; this server serves "digits-distilled", "digits-distilled.encoder", "digits-distilled.head"/,
      },
      { what: 'an unknown route', path: '/v3/whatever', body: {}, status: 404, error: /no route for POST \/v3\/whatever/ },
      {
        what: 'a body over the limit',
        raw: JSON.stringify(input({ shape: [100, 784], data: Array.from({ length: 100 * 784 }, () => 0.123456789) })),
        status: 413,
        error: /request body is larger than the limit of 262144 bytes/,
      },
      {
        what: 'a non-JSON content type',
        raw: 'features=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        status: 415,
        error: /unsupported content-type "application\/x-www-form-urlencoded"; send application\/json/,
      },
      {
        what: '/predict without features',
        path: '/predict',
        body: { rows: [] },
        status: 400,
        error: /"features" must be an array of rows/,
      },
      {
        what: '/predict with a short row',
        path: '/predict',
        body: { features: [[1, 2, 3]] },
        status: 400,
        error: /features\[0\] has 3 values but the model takes 784/,
      },
      { what: '/predict with an empty batch', path: '/predict', body: { features: [] }, status: 400, error: /empty batch/ },
      {
        what: '/predict with a bad embedding flag',
        path: '/predict?embedding=maybe',
        body: { features: [one()] },
        status: 400,
        error: /query parameter "embedding" must be 1 or 0/,
      },
    ];

    for (const c of cases) {
      it(`answers ${c.status} for ${c.what} and keeps serving`, async () => {
        const res = await request(`${server.url}${c.path ?? infer}`, {
          ...(c.raw !== undefined ? { raw: c.raw } : { body: c.body }),
          ...(c.headers ? { headers: c.headers } : {}),
        });
        assert.equal(res.status, c.status, JSON.stringify(res.body));
        assert.deepEqual(Object.keys(res.body), ['error']);
        assert.match(res.body.error as string, c.error);
        const ok = await request<InferBody>(`${server.url}${infer}`, { body: input({}) });
        assert.equal(ok.status, 200);
        assert.equal(output(ok.body, 'prediction').data.length, 1);
      });
    }

    it('answers 404 on metadata and readiness of an unknown model', async () => {
      for (const suffix of ['', '/ready']) {
        const res = await request(`${server.url}/v2/models/nope${suffix}`);
        assert.equal(res.status, 404);
        assert.match(res.body.error as string, /unknown model "nope"/);
      }
    });

    it('counts the rejected requests by status code', async () => {
      const text = (await request(`${server.url}/metrics`)).body.text as string;
      assert.ok(metricValue(text, 'inference_cascade_variant_errors_total', { code: '400' }) >= 17);
      assert.ok(metricValue(text, 'inference_cascade_variant_errors_total', { code: '413' }) >= 1);
      assert.ok(metricValue(text, 'inference_cascade_variant_errors_total', { code: '415' }) >= 1);
    });
  });
});

describe('variant server dynamic batching', () => {
  let plain: VariantServer;
  let batched: VariantServer;
  const { rows: referenceCount, data: reference } = referenceRows();

  before(async () => {
    [plain, batched] = await Promise.all([
      startVariantServer({ model: TEST_MODEL_DIR, port: 0, logger: quietLogger() }),
      startVariantServer({ model: TEST_MODEL_DIR, port: 0, logger: quietLogger(), batching: true, batchWindowMs: 5, maxBatch: 16 }),
    ]);
  });

  after(async () => {
    await Promise.all([plain?.close(), batched?.close()]);
  });

  // 48 distinct rows: the 16 reference digits, dimmed and brightened.
  const inputs = Array.from({ length: 48 }, (_, i) =>
    row(reference, i % referenceCount).map((x) => Math.min(1, x * (0.6 + 0.2 * Math.floor(i / referenceCount)))),
  );

  it('gives the same predictions as unbatched requests for an fp32 model, in batches larger than one', async () => {
    const send = (server: VariantServer, features: number[]) =>
      request<InferBody>(`${server.url}/v2/models/${NAME}/infer`, { body: inferBody('features', 1, features) });
    const unbatched = await Promise.all(inputs.map((f) => send(plain, f)));
    const concurrent = await Promise.all(inputs.map((f) => send(batched, f)));
    concurrent.forEach((res, i) => {
      assert.equal(res.status, 200);
      assert.deepEqual(output(res.body, 'prediction').data, output(unbatched[i]!.body, 'prediction').data, `row ${i}`);
      const a = output(res.body, 'probabilities').data;
      const b = output(unbatched[i]!.body, 'probabilities').data;
      a.forEach((p, j) => assert.ok(Math.abs(p - b[j]!) <= 1e-5, `row ${i} class ${j}: ${p} vs ${b[j]}`));
    });
    const text = (await request(`${batched.url}/metrics`)).body.text as string;
    const runs = metricValue(text, 'inference_cascade_variant_batch_size_count', { graph: 'model' });
    const batchedRows = metricValue(text, 'inference_cascade_variant_batch_size_sum', { graph: 'model' });
    const single = metricValue(text, 'inference_cascade_variant_batch_requests_bucket', { graph: 'model', le: '1' });
    assert.equal(batchedRows, inputs.length);
    assert.ok(runs < inputs.length, `${inputs.length} requests ran as ${runs} batches`);
    assert.ok(single < runs, 'at least one run merged several requests');
    assert.equal(
      metricValue(text, 'inference_cascade_variant_batch_size_bucket', { graph: 'model', le: '16' }),
      runs,
      'no batch above --max-batch',
    );
  });

  it('batches /predict and the sub-graphs too', async () => {
    const results = await Promise.all(
      inputs.slice(0, 16).map((f) => request<{ predictions: number[] }>(`${batched.url}/predict`, { body: { features: [f] } })),
    );
    const expected = await Promise.all(
      inputs.slice(0, 16).map((f) => request<{ predictions: number[] }>(`${plain.url}/predict`, { body: { features: [f] } })),
    );
    assert.deepEqual(
      results.map((r) => r.body.predictions),
      expected.map((r) => r.body.predictions),
    );
    const heads = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        request<InferBody>(`${batched.url}/v2/models/${NAME}.head/infer`, {
          body: inferBody(
            'embedding',
            1,
            Array.from({ length: 32 }, (_, j) => Math.sin(i + j)),
          ),
        }),
      ),
    );
    assert.ok(heads.every((r) => r.status === 200));
    const text = await (await fetch(`${batched.url}/metrics`)).text();
    const headRuns = metricValue(text, 'inference_cascade_variant_batch_requests_count', { graph: 'head' });
    const headSingles = metricValue(text, 'inference_cascade_variant_batch_requests_bucket', { graph: 'head', le: '1' });
    assert.ok(headSingles < headRuns, `the 8 concurrent head requests all ran alone (${headRuns} runs)`);
  });

  it('says in the metadata that batching is on and, for the quantized graphs, not exact', async () => {
    const meta = await request(`${batched.url}/v2/models/${NAME}`);
    assert.deepEqual(meta.body.parameters, {
      ...(meta.body.parameters as object),
      dynamic_batching: true,
      batch_window_ms: 5,
      max_batch: 16,
      dynamic_quantization: false,
      batching_exact: true,
    });
    const quantized = await startVariantServer({
      model: path.join(ROOT, 'models', 'digits', 'quantized'),
      port: 0,
      logger: quietLogger(),
      batching: true,
    });
    try {
      const parameters = (await request(`${quantized.url}/v2/models/digits-quantized`)).body.parameters as Record<string, unknown>;
      assert.equal(parameters.dynamic_quantization, true);
      assert.equal(parameters.batching_exact, false);
      assert.match(parameters.batching_note as string, /DynamicQuantizeLinear/);
    } finally {
      await quantized.close();
    }
  });
});
