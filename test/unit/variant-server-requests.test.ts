// Request validation and response building, without a server.
import assert from 'node:assert/strict';
import { formatInferResponse, parseInferRequest, type EndpointSpec } from '../../variant-server/oip.js';
import { formatPredictResponse, parseEmbeddingFlag, parsePredictRequest } from '../../variant-server/predict.js';
import { RequestError } from '../../variant-server/tensors.js';

const spec: EndpointSpec = {
  name: 'toy',
  version: '1',
  input: { name: 'features', width: 3 },
  outputs: [
    { name: 'logits', datatype: 'FP32', shape: [-1, 2] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
    { name: 'prediction', datatype: 'INT64', shape: [-1] },
  ],
};

const body = (input: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  inputs: [{ name: 'features', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6], ...input }],
  ...extra,
});

const rejects = (fn: () => unknown, status: number, pattern: RegExp): void => {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof RequestError, `expected RequestError, got ${String(error)}`);
    assert.equal(error.statusCode, status);
    assert.match(error.message, pattern);
    return true;
  });
};

describe('variant server request parsing', () => {
  it('accepts flat and nested data in row-major order', () => {
    const flat = parseInferRequest(body({}), spec);
    const nested = parseInferRequest(
      body({
        data: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      }),
      spec,
    );
    assert.deepEqual(Array.from(flat.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(nested, flat);
    assert.equal(flat.rows, 2);
    assert.deepEqual(flat.outputs, ['logits', 'probabilities', 'prediction']);
  });

  it('keeps the id and the requested outputs in request order', () => {
    const parsed = parseInferRequest(
      body({}, { id: 'req-7', outputs: [{ name: 'prediction' }, { name: 'logits' }, { name: 'prediction' }] }),
      spec,
    );
    assert.equal(parsed.id, 'req-7');
    assert.deepEqual(parsed.outputs, ['prediction', 'logits']);
  });

  it('rejects every malformed request with a message naming the problem', () => {
    rejects(() => parseInferRequest('x', spec), 400, /request body must be a JSON object/);
    rejects(() => parseInferRequest({}, spec), 400, /"inputs" must be a non-empty array holding the input "features"/);
    rejects(() => parseInferRequest({ inputs: [] }, spec), 400, /"inputs" must be a non-empty array/);
    rejects(
      () => parseInferRequest(body({ name: 'pixels' }), spec),
      400,
      /input "pixels" is not an input of model "toy"; its only input is "features"/,
    );
    rejects(() => parseInferRequest({ inputs: [body({}).inputs[0], body({}).inputs[0]] }, spec), 400, /given 2 times/);
    rejects(() => parseInferRequest(body({ datatype: 'INT64' }), spec), 400, /datatype must be "FP32", got the string "INT64"/);
    rejects(() => parseInferRequest(body({ datatype: undefined }), spec), 400, /datatype must be "FP32", got none/);
    rejects(
      () => parseInferRequest(body({ shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] }), spec),
      400,
      /shape \[2, 4\] has 4 values per row but model "toy" takes 3/,
    );
    rejects(() => parseInferRequest(body({ shape: [6] }), spec), 400, /shape must be \[rows, 3\], got \[6\]/);
    rejects(() => parseInferRequest(body({ shape: [2, -3] }), spec), 400, /shape\[1\] must be a non-negative integer/);
    rejects(() => parseInferRequest(body({ shape: 'big' }), spec), 400, /shape must be a non-empty array/);
    rejects(() => parseInferRequest(body({ shape: [3, 3] }), spec), 400, /data holds 6 values but shape \[3, 3\] needs 9/);
    rejects(() => parseInferRequest(body({ data: [1, 2, 3, 4, 5, 6, 7] }), spec), 400, /data holds 7 values but shape \[2, 3\] needs 6/);
    rejects(() => parseInferRequest(body({ shape: [0, 3], data: [] }), spec), 400, /empty batch/);
    rejects(() => parseInferRequest(body({ data: [1, 2, 'NaN', 4, 5, 6] }), spec), 400, /data\[2\] must be a number, got the string "NaN"/);
    rejects(() => parseInferRequest(body({ data: [1, 2, 3, null, 5, 6] }), spec), 400, /data\[3\] must be a number, got null/);
    rejects(
      () => parseInferRequest(body({ data: [1, Infinity, 3, 4, 5, 6] }), spec),
      400,
      /data\[1\] must be a finite number, got Infinity/,
    );
    rejects(() => parseInferRequest(body({ data: [[[1]], 2, 3, 4, 5, 6] }), spec), 400, /nested deeper than its shape allows/);
    rejects(() => parseInferRequest(body({ data: 'abc' }), spec), 400, /data must be an array of numbers/);
    rejects(
      () => parseInferRequest(body({}, { outputs: [{ name: 'scores' }] }), spec),
      400,
      /requested output "scores" is not an output of model "toy"; outputs are logits, probabilities, prediction/,
    );
    rejects(() => parseInferRequest(body({}, { outputs: 'logits' }), spec), 400, /"outputs" must be an array/);
    rejects(() => parseInferRequest(body({}, { id: 5 }), spec), 400, /"id" must be a string/);
  });

  it('formats OIP responses and derives the INT64 prediction from the logits', () => {
    const request = parseInferRequest(body({}, { id: 'a', outputs: [{ name: 'prediction' }, { name: 'logits' }] }), spec);
    const response = formatInferResponse(spec, request, { logits: new Float32Array([0.5, -1, -2, 3]), probabilities: new Float32Array(4) });
    assert.deepEqual(response, {
      model_name: 'toy',
      model_version: '1',
      id: 'a',
      outputs: [
        { name: 'prediction', shape: [2], datatype: 'INT64', data: [0, 1] },
        { name: 'logits', shape: [2, 2], datatype: 'FP32', data: [0.5, -1, -2, 3] },
      ],
    });
    assert.equal(
      'id' in
        formatInferResponse(spec, parseInferRequest(body({}), spec), { logits: new Float32Array(4), probabilities: new Float32Array(4) }),
      false,
    );
  });

  it('parses and formats the prototype /predict API', () => {
    const parsed = parsePredictRequest(
      {
        features: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      },
      3,
    );
    assert.equal(parsed.rows, 2);
    assert.deepEqual(Array.from(parsed.data), [1, 2, 3, 4, 5, 6]);
    const raw = {
      embedding: new Float32Array([1, 2, 3, 4]),
      logits: new Float32Array([0, 1, 1, 0]),
      probabilities: new Float32Array([0.25, 0.75, 0.5, 0.25]),
    };
    assert.deepEqual(formatPredictResponse('toy', 2, raw, false, 1.23456), {
      predictions: [1, 0],
      probabilities: [
        [0.25, 0.75],
        [0.5, 0.25],
      ],
      model: 'toy',
      latency_ms: 1.235,
    });
    assert.deepEqual(formatPredictResponse('toy', 2, raw, true, 0).embedding, [
      [1, 2],
      [3, 4],
    ]);
    rejects(() => parsePredictRequest({}, 3), 400, /"features" must be an array of rows, got nothing/);
    rejects(() => parsePredictRequest({ features: [] }, 3), 400, /empty batch/);
    rejects(() => parsePredictRequest({ features: [1, 2, 3] }, 3), 400, /features\[0\] must be an array of 3 numbers/);
    rejects(() => parsePredictRequest({ features: [[1, 2]] }, 3), 400, /features\[0\] has 2 values but the model takes 3/);
    rejects(
      () =>
        parsePredictRequest(
          {
            features: [
              [1, 2, 3],
              [1, '2', 3],
            ],
          },
          3,
        ),
      400,
      /features\[1\]\[1\] must be a number, got the string "2"/,
    );
    rejects(() => parsePredictRequest({ features: [[1, 2, -Infinity]] }, 3), 400, /features\[0\]\[2\] must be a finite number/);
    assert.equal(parseEmbeddingFlag({ embedding: '1' }), true);
    assert.equal(parseEmbeddingFlag({}), false);
    rejects(() => parseEmbeddingFlag({ embedding: 'yes' }), 400, /query parameter "embedding" must be 1 or 0/);
  });

  it('sizes nothing from the shape alone: a huge row count is a count mismatch, not an allocation', () => {
    // [1e9, 3] once allocated 12 GB up front (a RangeError, so a 500) before counting the data.
    rejects(() => parseInferRequest(body({ shape: [1e9, 3] }), spec), 400, /data holds 6 values but shape \[1000000000, 3\] needs 3000000000/);
    rejects(() => parseInferRequest(body({ shape: [2 ** 32, 3] }), spec), 400, /data holds 6 values/);
    rejects(() => parseInferRequest(body({ shape: [2 ** 53, 3] }), spec), 400, /shape\[0\] is 9007199254740992, too large for a dimension/);
    rejects(() => parseInferRequest(body({ shape: [1e308, 3] }), spec), 400, /shape\[0\] is 1e\+308, too large/);
    rejects(() => parseInferRequest(undefined, spec), 400, /request body must be a JSON object with an "inputs" array, got nothing$/);
  });

  it('rejects values beyond the FP32 range, which the model would see as Infinity', () => {
    rejects(() => parseInferRequest(body({ data: [1, 2, 1e39, 4, 5, 6] }), spec), 400, /data\[2\] is 1e\+39, outside the FP32 range/);
    rejects(() => parsePredictRequest({ features: [[1, -3.5e38, 3]] }, 3), 400, /features\[0\]\[1\] is -3\.5e\+38, outside the FP32 range/);
    assert.equal(parsePredictRequest({ features: [[1, 3.4e38, 3]] }, 3).data[1], Math.fround(3.4e38));
  });

  it('refuses (422) to answer with outputs that are not finite, naming the row, instead of writing null', () => {
    const request = parseInferRequest(body({}), spec);
    const overflowed = { logits: new Float32Array([0.5, -1, NaN, 3]), probabilities: new Float32Array([0.5, 0.5, NaN, NaN]) };
    assert.throws(() => formatInferResponse(spec, request, overflowed), (error: unknown) => {
      assert.ok(error instanceof RequestError);
      assert.equal(error.statusCode, 422);
      assert.match(error.message, /model "toy" computed NaN in output "logits" for row 1: its input values are too large in magnitude for FP32 arithmetic/);
      return true;
    });
    const probabilitiesOnly = parseInferRequest(body({}, { outputs: [{ name: 'probabilities' }] }), spec);
    rejects(() => formatInferResponse(spec, probabilitiesOnly, overflowed), 422, /NaN in output "probabilities" for row 1/);
    rejects(() => formatPredictResponse('toy', 2, { ...overflowed, embedding: new Float32Array(4) }, false, 0), 422, /row 1/);
    rejects(
      () => formatPredictResponse('toy', 2, { logits: new Float32Array(4), probabilities: new Float32Array(4), embedding: new Float32Array([0, Infinity, 0, 0]) }, true, 0),
      422,
      /computed Infinity in output "embedding" for row 0/,
    );
  });
});
