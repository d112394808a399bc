// Open Inference Protocol (KServe v2 / Triton) REST bodies: validating infer requests and building
// responses for one served graph. Pure, so every bad input is testable without a server.
import type { GraphOutputs } from './scheduler.js';
import { argmaxRows, checkFiniteOutputs, describe, flattenInto, RequestError } from './tensors.js';

export interface TensorMetadata {
  name: string;
  datatype: 'FP32' | 'INT64';
  /** -1 for the batch dimension. */
  shape: number[];
}

/** One addressable model: the whole variant, its encoder or its head. */
export interface EndpointSpec {
  name: string;
  version: string;
  input: { name: string; width: number };
  outputs: TensorMetadata[];
}

export interface InferRequest {
  id?: string;
  rows: number;
  data: Float32Array;
  /** Output names to return, in response order. */
  outputs: string[];
}

export interface InferResponseTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

export interface InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: InferResponseTensor[];
}

const NO_VALUES = new Float32Array(0);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseShape(shape: unknown, field: string): number[] {
  if (!Array.isArray(shape) || shape.length === 0)
    throw new RequestError(400, `${field} must be a non-empty array of integers, got ${describe(shape)}`);
  return shape.map((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new RequestError(400, `${field}[${i}] must be a non-negative integer, got ${describe(d)}`);
    if (!Number.isSafeInteger(d)) throw new RequestError(400, `${field}[${i}] is ${d}, too large for a dimension (at most 2^53 - 1)`);
    return d;
  });
}

export function parseInferRequest(body: unknown, spec: EndpointSpec): InferRequest {
  if (!isObject(body)) throw new RequestError(400, `request body must be a JSON object with an "inputs" array, got ${describe(body)}`);
  const { id, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string') throw new RequestError(400, `"id" must be a string, got ${describe(id)}`);
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new RequestError(400, `"inputs" must be a non-empty array holding the input "${spec.input.name}", got ${describe(inputs)}`);
  }
  const expected = spec.input.name;
  const names = inputs.map((input, i) => {
    if (!isObject(input) || typeof input.name !== 'string') throw new RequestError(400, `inputs[${i}].name must be a string`);
    return input.name;
  });
  const unknown = names.find((n) => n !== expected);
  if (unknown !== undefined)
    throw new RequestError(400, `input "${unknown}" is not an input of model "${spec.name}"; its only input is "${expected}"`);
  if (names.length > 1) throw new RequestError(400, `input "${expected}" is given ${names.length} times`);

  const input = inputs[0] as Record<string, unknown>;
  const field = `input "${expected}"`;
  if (input.datatype !== 'FP32') {
    throw new RequestError(
      400,
      `${field}: datatype must be "FP32", got ${input.datatype === undefined ? 'none' : describe(input.datatype)}`,
    );
  }
  const shape = parseShape(input.shape, `${field}: shape`);
  const width = spec.input.width;
  if (shape.length !== 2) throw new RequestError(400, `${field}: shape must be [rows, ${width}], got [${shape.join(', ')}]`);
  const [rows, columns] = shape as [number, number];
  if (columns !== width) {
    throw new RequestError(
      400,
      `${field}: shape [${rows}, ${columns}] has ${columns} values per row but model "${spec.name}" takes ${width}`,
    );
  }
  if (rows === 0) throw new RequestError(400, `${field}: empty batch (shape [0, ${width}]); send at least one row`);
  // Count (and check) the values before allocating: the shape alone must not size the buffer, or a
  // 100-byte body claiming [1e9, width] rows allocates gigabytes or throws a RangeError (a 500).
  const needed = rows * width;
  const count = flattenInto(input.data, NO_VALUES, shape.length, `${field}: data`);
  if (count !== needed) {
    throw new RequestError(400, `${field}: data holds ${count} values but shape [${rows}, ${width}] needs ${needed}`);
  }
  const data = new Float32Array(needed);
  flattenInto(input.data, data, shape.length, `${field}: data`);

  let requested = spec.outputs.map((o) => o.name);
  if (outputs !== undefined) {
    if (!Array.isArray(outputs))
      throw new RequestError(400, `"outputs" must be an array of {"name": ...} objects, got ${describe(outputs)}`);
    const known = new Set(requested);
    const picked = outputs.map((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw new RequestError(400, `outputs[${i}].name must be a string`);
      if (!known.has(o.name)) {
        throw new RequestError(
          400,
          `requested output "${o.name}" is not an output of model "${spec.name}"; outputs are ${[...known].join(', ')}`,
        );
      }
      return o.name;
    });
    if (picked.length > 0) requested = [...new Set(picked)];
  }
  return { ...(id !== undefined ? { id } : {}), rows, data, outputs: requested };
}

/** `prediction` (INT64 argmax) is derived from `logits`; every other output is a graph output. */
export function formatInferResponse(spec: EndpointSpec, request: InferRequest, raw: GraphOutputs): InferResponse {
  const { rows } = request;
  checkFiniteOutputs(spec.name, Object.fromEntries(request.outputs.map((name) => (name === 'prediction' ? ['logits', raw.logits] : [name, raw[name]]))), rows);
  const outputs = request.outputs.map((name): InferResponseTensor => {
    if (name === 'prediction') return { name, shape: [rows], datatype: 'INT64', data: argmaxRows(raw.logits!, rows) };
    const values = raw[name];
    if (!values) throw new Error(`graph of model "${spec.name}" produced no output "${name}"`);
    return { name, shape: [rows, values.length / rows], datatype: 'FP32', data: Array.from(values) };
  });
  return { model_name: spec.name, model_version: spec.version, ...(request.id !== undefined ? { id: request.id } : {}), outputs };
}
