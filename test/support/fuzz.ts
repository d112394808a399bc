// A request fuzzer for the router's and the variant server's JSON endpoints: from a seed, hostile
// requests (random JSON shapes, mutated valid requests, huge and deeply nested arrays, wrong types,
// NaN/Infinity strings and literals, invalid UTF-8, truncated JSON, duplicate and prototype keys,
// wrong content types, chunked bodies, bad hint headers), and a classifier for the replies: a 200
// must be a well-formed answer, anything else a 4xx whose JSON {"error": "..."} names the problem.
import { seededRandom, type Random } from '../../common/random.js';
import type { RawReply, RawRequest } from './raw-http.js';

/** One endpoint under test, described by the server's own model metadata. */
export interface Endpoint {
  server: string;
  kind: 'predict' | 'infer';
  path: string;
  /** The input tensor's name (infer) and its row width. */
  input: string;
  width: number;
  /** Output names (infer), for the "outputs" filter. */
  outputs: string[];
  /** Router endpoints take the SLA and variant hint headers. */
  router: boolean;
}

export interface FuzzCase {
  index: number;
  endpoint: Endpoint;
  request: RawRequest;
  /** What the generator did, for the failure report. */
  mutations: string[];
  /** Set when the generator knows the request is bad: a 200 is then wrong, and so is a status or error not listed. */
  expect?: { statuses: number[]; error?: RegExp };
}

/** Every case has its own generator, so a case repeats from (seed, index) alone, in any order. */
export function caseRandom(seed: number, index: number): Random {
  return seededRandom((Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0);
}

const pick = <T>(r: Random, items: readonly T[]): T => items[r.int(items.length)]!;
const chance = (r: Random, p: number): boolean => r.next() < p;

/** Placeholders for literals JSON.stringify cannot write (1e400, NaN, 0x10, ...), spliced in afterwards. */
const RAW = '\u0001raw:';
const raw = (literal: string): string => `${RAW}${literal}\u0001`;
const RAW_LITERALS = ['1e400', '-1e400', 'NaN', 'Infinity', '-Infinity', '0x10', '.5', '01', '+1', '1.', '-', '1e', '123456789012345678901234567890123', '1E+2', '-0.0e-0', 'undefined', "'a'", 'tru', 'nul'];

function serialize(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(/"\\u0001raw:(.*?)\\u0001"/g, (_m, literal: string) => literal);
}

const NUMBERS = [0, -0, 1, -1, 0.5, 3.4e38, 3.5e38, -3.5e38, 1e39, 1e308, -1e308, 5e-324, 1e-45, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e21, 123456.789];
const STRINGS = ['', 'NaN', 'Infinity', '-Infinity', '1e400', '0', '1', 'null', 'true', '[1,2]', '{}', 'features', 'FP32', 'é€𝄞', '\u0000', '\ud800', '\udfff\ud800', '<script>', 'a'.repeat(300), '__proto__'];
const DATATYPES = ['FP32', 'FP64', 'FP16', 'INT64', 'INT32', 'BYTES', 'BOOL', 'fp32', 'Fp32', ' FP32', ''];

function randomNumber(r: Random): number | string {
  switch (r.int(5)) {
    case 0:
      return pick(r, NUMBERS);
    case 1:
      return r.int(2000) - 1000;
    case 2:
      return raw(pick(r, RAW_LITERALS));
    default:
      return Math.round(r.gaussian() * 1e4) / 1e4;
  }
}

function randomString(r: Random): string {
  return chance(r, 0.8) ? pick(r, STRINGS) : String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0x3000)));
}

/** Any JSON value, up to `depth` levels of containers. */
export function randomJson(r: Random, depth: number): unknown {
  const roll = r.int(depth > 0 ? 8 : 5);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return chance(r, 0.5);
    case 2:
      return randomNumber(r);
    case 3:
    case 4:
      return randomString(r);
    case 5:
    case 6:
      return Array.from({ length: r.int(6) }, () => randomJson(r, depth - 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) object[pick(r, ['features', 'inputs', 'outputs', 'id', 'name', 'shape', 'data', 'datatype', 'x', ''])] = randomJson(r, depth - 1);
      return object;
    }
  }
}

function row(r: Random, width: number, digits: number): number[] {
  const scale = 10 ** digits;
  return Array.from({ length: width }, () => Math.round(r.gaussian() * scale) / scale);
}

/** A request the endpoint should answer 200, before any mutation. */
export function validBody(r: Random, endpoint: Endpoint, rows = 1 + r.int(4), digits = 1 + r.int(6)): Record<string, unknown> {
  const data = Array.from({ length: rows }, () => row(r, endpoint.width, digits));
  if (endpoint.kind === 'predict') return { features: data };
  const body: Record<string, unknown> = {
    inputs: [{ name: endpoint.input, shape: [rows, endpoint.width], datatype: 'FP32', data: chance(r, 0.5) ? data.flat() : data }],
  };
  if (chance(r, 0.3)) body.id = `case-${r.int(1e6)}`;
  if (chance(r, 0.3)) body.outputs = endpoint.outputs.filter(() => chance(r, 0.5)).map((name) => ({ name }));
  return body;
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

/** Every (container, key) in the value, skipping most elements of long arrays. */
function slots(value: unknown, r: Random, out: Slot[] = []): Slot[] {
  if (Array.isArray(value)) {
    value.forEach((element, i) => {
      if (value.length <= 8 || chance(r, 8 / value.length)) out.push({ parent: value, key: i });
      slots(element, r, out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [key, element] of Object.entries(value)) {
      out.push({ parent: value as Record<string, unknown>, key });
      slots(element, r, out);
    }
  }
  return out;
}

const getSlot = (s: Slot): unknown => (s.parent as Record<string | number, unknown>)[s.key];
const setSlot = (s: Slot, v: unknown): void => {
  (s.parent as Record<string | number, unknown>)[s.key] = v;
};

/** One structural change at a random place; returns what it did. */
function mutateValue(r: Random, body: Record<string, unknown>, endpoint: Endpoint): string {
  const inputs = body.inputs;
  const input = Array.isArray(inputs) && typeof inputs[0] === 'object' && inputs[0] !== null ? (inputs[0] as Record<string, unknown>) : undefined;
  // Targeted changes to the fields that size the request (on top of earlier changes, if any).
  if (input && chance(r, 0.35)) {
    if (!Array.isArray(input.shape) || input.shape.length === 0) input.shape = [1, endpoint.width];
    const shape = input.shape as number[];
    const rows = typeof shape[0] === 'number' ? shape[0] : 1;
    const choice = r.int(6);
    if (choice === 0) {
      const bad = pick(r, [-1, 0, 0.5, 1.5, -0, 1e9, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, '2', null, true, [], raw('1e400'), raw('NaN')]);
      shape[0] = bad as number;
      return `shape[0] = ${serialize(bad)}`;
    }
    if (choice === 1) {
      const bad = pick(r, [-1, 0, endpoint.width - 1, endpoint.width + 1, 0.5, 1e9, '32', null]);
      shape[1] = bad as number;
      return `shape[1] = ${serialize(bad)}`;
    }
    if (choice === 2) {
      input.shape = pick(r, [[], [rows], [rows, endpoint.width, 1], [rows * endpoint.width], [1, rows, endpoint.width], 'x', null, {}, [[rows], [endpoint.width]]]);
      return `shape = ${serialize(input.shape)}`;
    }
    if (choice === 3) {
      shape[0] = rows + pick(r, [1, -1, 2, 1000, 1e6]);
      return `shape[0] = ${shape[0]} with data for ${rows} rows`;
    }
    if (choice === 4) {
      input.datatype = pick(r, DATATYPES);
      return `datatype = ${JSON.stringify(input.datatype)}`;
    }
    input.name = pick(r, ['features', 'embedding', 'input', '', 'FEATURES', endpoint.input]);
    return `input name = ${JSON.stringify(input.name)}`;
  }
  const all = slots(body, r);
  if (all.length === 0) {
    body.features = randomJson(r, 2);
    return 'features = something random';
  }
  const slot = pick(r, all);
  const path = String(slot.key);
  const op = r.int(8);
  switch (op) {
    case 0:
    case 1: {
      const value = chance(r, 0.5) ? randomNumber(r) : randomJson(r, 2);
      setSlot(slot, value);
      return `[${path}] = ${serialize(value).slice(0, 80)}`;
    }
    case 2:
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else delete slot.parent[slot.key as string];
      return `delete [${path}]`;
    case 3:
      setSlot(slot, [getSlot(slot)]);
      return `wrap [${path}] in an array`;
    case 4: {
      const value = getSlot(slot);
      if (Array.isArray(value)) {
        setSlot(slot, value[0]);
        return `unwrap [${path}]`;
      }
      setSlot(slot, String(value));
      return `[${path}] as a string`;
    }
    case 5: {
      if (Array.isArray(slot.parent)) {
        slot.parent.splice(slot.key as number, 0, getSlot(slot));
        return `duplicate element [${path}]`;
      }
      const key = pick(r, ['extra', 'parameters', 'features', 'inputs', 'rows', 'id', '']);
      slot.parent[key] = randomJson(r, 2);
      return `add key ${JSON.stringify(key)}`;
    }
    case 6: {
      const value = getSlot(slot);
      if (Array.isArray(value)) value.length = r.int(value.length + 1);
      else setSlot(slot, pick(r, STRINGS));
      return `truncate [${path}]`;
    }
    default: {
      const value = pick(r, [raw('NaN'), raw('Infinity'), raw('1e400'), 'NaN', 'Infinity', '-Infinity', 1e39, -1e39, 3.4e38, 1e30, 1e-40, null, true, {}, []]);
      setSlot(slot, value);
      return `[${path}] = ${serialize(value)}`;
    }
  }
}

const INVALID_UTF8 = [[0xff], [0xfe, 0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x82], [0x00]];

/** Byte-level damage to a serialized body. */
function mutateText(r: Random, text: string): { body: Buffer; what: string; malformed?: boolean } {
  const bytes = Buffer.from(text);
  switch (r.int(7)) {
    case 0: {
      const at = r.int(bytes.length);
      // A cut object or array is never JSON; a cut number may still be one.
      return { body: bytes.subarray(0, at), what: `truncated to ${at} of ${bytes.length} bytes`, malformed: at === 0 || /^[[{]/.test(text) };
    }
    case 1: {
      const at = r.int(bytes.length + 1);
      const bad = Buffer.from(pick(r, INVALID_UTF8));
      return { body: Buffer.concat([bytes.subarray(0, at), bad, bytes.subarray(at)]), what: `invalid UTF-8 ${bad.toString('hex')} at byte ${at}` };
    }
    case 2: {
      const at = r.int(bytes.length);
      const copy = Buffer.from(bytes);
      copy[at] = pick(r, [0x22, 0x2c, 0x5b, 0x5d, 0x7b, 0x7d, 0x3a, 0x5c, 0x20, 0x78, 0x2e, 0x2d]);
      return { body: copy, what: `byte ${at} = ${JSON.stringify(String.fromCharCode(copy[at]!))}` };
    }
    case 3:
      return { body: Buffer.concat([Buffer.from(pick(r, ['\ufeff', ' \n\t', 'x', '[', '{}'])), bytes]), what: 'prefixed' };
    case 4:
      return { body: Buffer.concat([bytes, Buffer.from(pick(r, ['x', '}', ']', ',', ' ', '{}', '\u0000', '\n\n\n']))]), what: 'suffixed' };
    case 5:
      return { body: Buffer.alloc(0), what: 'empty body', malformed: true };
    default:
      return { body: Buffer.from(pick(r, ['null', 'true', '0', '"x"', '[]', '[{}]', '1e400', '-', ' ', '\n'])), what: 'a bare JSON token' };
  }
}

/** `{"key": X, ..., "key": Y}` as text: the last one wins in JSON.parse. */
function duplicateKeys(r: Random, body: Record<string, unknown>): { text: string; what: string } {
  const entries = Object.entries(body);
  if (entries.length === 0) return { text: '{}', what: 'no keys to duplicate' };
  const [key, value] = pick(r, entries);
  const other = chance(r, 0.5) ? randomJson(r, 2) : value;
  const parts = entries.map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`);
  const extra = `${JSON.stringify(key)}:${serialize(other)}`;
  const first = chance(r, 0.5);
  return { text: `{${first ? [extra, ...parts].join(',') : [...parts, extra].join(',')}}`, what: `duplicate key ${JSON.stringify(key)} ${first ? 'before' : 'after'}` };
}

function deepNesting(r: Random): { text: string; what: string } {
  const depth = pick(r, [100, 1_000, 10_000, 50_000]);
  return chance(r, 0.5)
    ? { text: `${'['.repeat(depth)}1${']'.repeat(depth)}`, what: `array nested ${depth} deep` }
    : { text: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, what: `object nested ${depth} deep` };
}

/** Big but within a 256 KiB body limit (and some of them beyond it). */
function hugeBody(r: Random, endpoint: Endpoint): { body: unknown; what: string } {
  switch (r.int(6)) {
    case 0: {
      const rows = 100 + r.int(900);
      return { body: validBody(r, endpoint, rows, 1 + r.int(3)), what: `a valid batch of ${rows} rows` };
    }
    case 1: {
      const n = 10_000 + r.int(50_000);
      const data = Array.from({ length: n }, () => r.int(10));
      return {
        body: endpoint.kind === 'predict' ? { features: [data] } : { inputs: [{ name: endpoint.input, shape: [1, endpoint.width], datatype: 'FP32', data }] },
        what: `${n} numbers in one row`,
      };
    }
    case 2: {
      const n = 5_000 + r.int(20_000);
      return { body: { features: Array.from({ length: n }, () => []) }, what: `${n} empty rows` };
    }
    case 3: {
      const object: Record<string, number> = {};
      for (let i = 10_000 + r.int(10_000); i > 0; i--) object[`k${i}`] = i;
      return { body: { ...object, features: [[1]], inputs: [] }, what: 'an object with 10,000+ keys' };
    }
    case 4: {
      const n = 5_000 + r.int(20_000);
      return { body: { inputs: Array.from({ length: n }, () => ({ name: endpoint.input })) }, what: `${n} inputs` };
    }
    default: {
      const rows = 2_000 + r.int(6_000);
      return { body: endpoint.kind === 'predict' ? { features: Array.from({ length: rows }, () => [0]) } : { inputs: [{ name: endpoint.input, shape: [rows, endpoint.width], datatype: 'FP32', data: [0] }] }, what: `${rows} one-value rows` };
    }
  }
}

const CONTENT_TYPES: { type?: string; json: boolean }[] = [
  { type: 'application/json; charset=utf-8', json: true },
  { type: 'APPLICATION/JSON', json: true },
  { type: 'application/json;charset=latin1', json: true },
  { type: 'text/plain', json: false },
  { type: 'application/x-www-form-urlencoded', json: false },
  { type: 'multipart/form-data; boundary=x', json: false },
  { type: 'application/octet-stream', json: false },
  { type: 'text/json', json: false },
  { type: 'application/jsonx', json: false },
  { type: '', json: false },
  { type: undefined, json: false },
];

const HINT_VALUES = ['-3', '0', 'NaN', 'Infinity', '1e400', '', ' ', 'abc', '50', '0.95', '1.5', '600001', 'full', 'tiny', 'distilled ', 'FULL', '1,2'];

export function generateCase(seed: number, index: number, endpoints: readonly Endpoint[]): FuzzCase {
  const r = caseRandom(seed, index);
  const endpoint = pick(r, endpoints);
  const mutations: string[] = [];
  let expect: FuzzCase['expect'];
  let text: string | undefined;
  let body: Buffer | undefined;
  let path = endpoint.path;
  const headers: Record<string, string> = {};

  const shape = r.next();
  if (shape < 0.1) {
    text = serialize(randomJson(r, 4));
    mutations.push('random JSON');
  } else if (shape < 0.15) {
    const huge = hugeBody(r, endpoint);
    text = serialize(huge.body);
    mutations.push(huge.what);
  } else if (shape < 0.2) {
    const deep = deepNesting(r);
    text = chance(r, 0.5) ? deep.text : endpoint.kind === 'predict' ? `{"features":${deep.text}}` : `{"inputs":[{"name":${JSON.stringify(endpoint.input)},"shape":[1,${endpoint.width}],"datatype":"FP32","data":${deep.text}}]}`;
    mutations.push(deep.what);
  } else {
    const value = validBody(r, endpoint);
    for (let n = r.next() < 0.25 ? 0 : 1 + r.int(3); n > 0; n--) mutations.push(mutateValue(r, value, endpoint));
    if (chance(r, 0.05)) {
      const poisoned = chance(r, 0.5) ? '"__proto__":{"polluted":1}' : '"constructor":{"prototype":{"polluted":1}}';
      text = `{${poisoned},${serialize(value).slice(1)}`;
      mutations.push('prototype-poisoning key');
      // Unless another change broke the JSON first.
      expect = { statuses: [400], error: /"__proto__" or "constructor\.prototype" key|^malformed JSON body: / };
    } else if (chance(r, 0.08)) {
      const duplicated = duplicateKeys(r, value);
      text = duplicated.text;
      mutations.push(duplicated.what);
    } else {
      text = serialize(value);
    }
    if (mutations.length === 0) mutations.push('none (valid)');
  }
  if (chance(r, 0.15)) {
    const damaged = mutateText(r, text);
    body = damaged.body;
    mutations.push(damaged.what);
    // Damaged text is malformed JSON, or whatever it now says: an earlier expectation no longer holds.
    // A truncated huge body can still be over the router's 256 KiB limit, which is checked first.
    expect = !damaged.malformed
      ? undefined
      : damaged.body.length > 256 * 1024
        ? { statuses: [400, 413], error: /^malformed JSON body: |^request body is larger than the limit of \d+ bytes/ }
        : { statuses: [400], error: /^malformed JSON body: |^request body is empty/ };
  } else {
    body = Buffer.from(text);
  }

  const chunked = chance(r, 0.3);
  let contentType: string | undefined = 'application/json';
  if (chance(r, 0.08)) {
    const choice = pick(r, CONTENT_TYPES);
    contentType = choice.type;
    mutations.push(`content-type ${contentType === undefined ? 'absent' : JSON.stringify(contentType)}`);
    if (!choice.json) {
      // No content type and no body at all is a request without a body, not one of the wrong type.
      expect = choice.type !== undefined || body.length > 0 || chunked
        ? { statuses: [415], error: /^unsupported content-type "[^"]*"; send application\/json$/ }
        : { statuses: [400], error: /request body must be a JSON object/ };
    }
  }
  if (endpoint.kind === 'infer' && chance(r, 0.03)) {
    const [, base] = /^(\/v2\/models\/[^/]+)/.exec(path)!;
    path = chance(r, 0.5) ? `/v2/models/${pick(r, ['nope', 'FULL', '%2e%2e', 'a%00b', '%E0%A4%A', '%', 'x'.repeat(200), 'x'.repeat(300)])}/infer` : `${base}/versions/${pick(r, ['0', '2', 'latest', '%20'])}/infer`;
    mutations.push(`path ${path}`);
    // Refused for the model, the path, or the body (read before the model is looked up).
    expect = { statuses: [...new Set([...(expect?.statuses ?? [400, 413, 415]), 400, 404, 414])] };
  }
  if (endpoint.router && chance(r, 0.1)) {
    const header = pick(r, ['x-latency-budget-ms', 'x-min-accuracy', 'x-cascade-variant']);
    headers[header] = pick(r, HINT_VALUES);
    mutations.push(`${header}: ${JSON.stringify(headers[header])}`);
  }
  if (!endpoint.router && endpoint.kind === 'predict' && chance(r, 0.1)) {
    const query = pick(r, ['embedding=1', 'embedding=0', 'embedding=', 'embedding=maybe', 'embedding=1&embedding=0', 'embedding=%00', 'other=1']);
    path = `${path}?${query}`;
    mutations.push(`?${query}`);
  }
  if (chunked) mutations.push('chunked');
  return {
    index,
    endpoint,
    request: { path, ...(contentType !== undefined ? { contentType } : {}), headers, body, chunked },
    mutations,
    ...(expect ? { expect } : {}),
  };
}

// ---- Classifying the replies ----------------------------------------------------------------

/** Words an error must contain: the field at fault or the reason. Generic texts ("Bad Request") have none. */
const NAMES_THE_PROBLEM =
  /features|inputs?\b|input "|shape|data\b|data\[|datatype|"id"|outputs?\b|output "|name\b|malformed JSON body|request body|content-type|Content-Length|limit of \d+ bytes|model "|header x-|embedding|no route for|__proto__|the path "|a path parameter \(model name or version\)/;

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function checkProbabilities(value: unknown, where: string): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return `${where} is not a non-empty array`;
  for (const [i, row] of value.entries()) {
    if (!Array.isArray(row) || row.length === 0 || !row.every(isFiniteNumber)) return `${where}[${i}] is not an array of finite numbers: ${JSON.stringify(row)}`;
    const sum = row.reduce((a: number, b: number) => a + b, 0);
    if (Math.abs(sum - 1) > 1e-3) return `${where}[${i}] sums to ${sum}, not 1`;
  }
  return undefined;
}

/** Why a 200 body is not a well-formed answer for the endpoint, or undefined. */
function malformedAnswer(endpoint: Endpoint, body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return 'the body is not a JSON object';
  const b = body as Record<string, unknown>;
  if (endpoint.kind === 'predict' && endpoint.router) {
    const bad = checkProbabilities(b.probabilities, 'probabilities');
    if (bad) return bad;
    const rows = (b.probabilities as unknown[]).length;
    const prediction = rows === 1 ? [b.prediction] : b.prediction;
    if (!Array.isArray(prediction) || prediction.length !== rows || !prediction.every((p) => Number.isInteger(p))) return `prediction ${JSON.stringify(b.prediction)} does not match ${rows} rows`;
    if (typeof b.variant !== 'string' || typeof b.cache_hit !== 'boolean' || !isFiniteNumber(b.latency_ms)) return 'variant, cache_hit or latency_ms missing';
    return undefined;
  }
  if (endpoint.kind === 'predict') {
    const bad = checkProbabilities(b.probabilities, 'probabilities');
    if (bad) return bad;
    const rows = (b.probabilities as unknown[]).length;
    if (!Array.isArray(b.predictions) || b.predictions.length !== rows || !b.predictions.every((p) => Number.isInteger(p))) return `predictions ${JSON.stringify(b.predictions)} do not match ${rows} rows`;
    if (b.embedding !== undefined && (!Array.isArray(b.embedding) || b.embedding.length !== rows || !b.embedding.every((e) => Array.isArray(e) && e.every(isFiniteNumber)))) return 'embedding is not rows of finite numbers';
    if (typeof b.model !== 'string' || !isFiniteNumber(b.latency_ms)) return 'model or latency_ms missing';
    return undefined;
  }
  if (typeof b.model_name !== 'string' || typeof b.model_version !== 'string') return 'model_name or model_version missing';
  if (b.id !== undefined && typeof b.id !== 'string') return `id ${JSON.stringify(b.id)} is not a string`;
  if (!Array.isArray(b.outputs) || b.outputs.length === 0) return 'outputs is not a non-empty array';
  let rows: number | undefined;
  for (const output of b.outputs as Record<string, unknown>[]) {
    const { name, shape, datatype, data } = output;
    if (typeof name !== 'string' || !endpoint.outputs.includes(name)) return `output name ${JSON.stringify(name)} is not one of ${endpoint.outputs.join(', ')}`;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) return `output ${name}: shape ${JSON.stringify(shape)}`;
    if (datatype !== 'FP32' && datatype !== 'INT64') return `output ${name}: datatype ${JSON.stringify(datatype)}`;
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Array.isArray(data) || data.length !== size || !data.every(isFiniteNumber)) return `output ${name}: data is not ${size} finite numbers`;
    if (datatype === 'INT64' && !data.every((d) => Number.isInteger(d))) return `output ${name}: INT64 data holds fractions`;
    rows ??= shape[0] as number;
    if (shape[0] !== rows) return `output ${name} has ${String(shape[0])} rows, another ${rows}`;
  }
  return undefined;
}

/**
 * A router request whose x-latency-budget-ms is tiny (1.5 ms) may get 504: the router takes a stated
 * budget as the client's deadline and answers 504 when it passes (router.ts requestBudget), by design.
 */
function deadlineMissed(fuzzCase: FuzzCase, reply: RawReply): boolean {
  const budget = Number(fuzzCase.request.headers?.['x-latency-budget-ms']);
  const error = (reply.json as { error?: unknown } | undefined)?.error;
  return reply.status === 504 && fuzzCase.endpoint.router && budget > 0 && budget <= 100 && typeof error === 'string' && /did not answer within|deadline/.test(error);
}

/** Why the reply breaks the contract, or undefined when it holds. */
export function classify(fuzzCase: FuzzCase, reply: RawReply): string | undefined {
  const { status } = reply;
  if (status >= 500) return deadlineMissed(fuzzCase, reply) ? undefined : `server error ${status}`;
  if (status === 200) {
    if (fuzzCase.expect) return `200 for a request the fuzzer knows is bad (expected ${fuzzCase.expect.statuses.join(' or ')})`;
    return malformedAnswer(fuzzCase.endpoint, reply.json);
  }
  if (status < 400) return `unexpected status ${status}`;
  if (status === 429 && reply.headers['retry-after'] === undefined) return '429 without Retry-After';
  const body = reply.json as Record<string, unknown> | undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return `${status} without a JSON object body`;
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'error') return `${status} body has keys ${JSON.stringify(keys)}, not just "error"`;
  const error = body.error;
  if (typeof error !== 'string' || error.length === 0) return `${status} error is not a non-empty string`;
  if (error.length > 1000) return `${status} error is ${error.length} characters long`;
  if (!NAMES_THE_PROBLEM.test(error)) return `${status} error names neither a field nor a reason`;
  if (fuzzCase.expect) {
    if (!fuzzCase.expect.statuses.includes(status)) return `status ${status}, expected ${fuzzCase.expect.statuses.join(' or ')}`;
    if (fuzzCase.expect.error && !fuzzCase.expect.error.test(error)) return `error does not match ${fuzzCase.expect.error}`;
  }
  return undefined;
}

/** The request as text for a failure report: headers, then the body (long ones cut, bytes that are not UTF-8 escaped). */
export function describeCase(fuzzCase: FuzzCase, limit = 600): string {
  const { request } = fuzzCase;
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body ?? '');
  const decoded = body.toString('utf8');
  const printable = Buffer.from(decoded).equals(body) ? decoded : body.toString('latin1');
  const shown = printable.length > limit ? `${printable.slice(0, limit)}... (${body.length} bytes)` : printable;
  const headers = { ...(request.contentType !== undefined ? { 'content-type': request.contentType } : {}), ...request.headers, ...(request.chunked ? { 'transfer-encoding': 'chunked' } : {}) };
  return `POST ${fuzzCase.endpoint.server}${request.path} ${JSON.stringify(headers)}\n        mutations: ${fuzzCase.mutations.join('; ')}\n        body: ${JSON.stringify(shown)}`;
}
