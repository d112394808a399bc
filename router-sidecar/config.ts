// The router's configuration document (crds/router-config.ts), validated once at start-up. Every
// error names the file and the field path, so a bad ConfigMap is diagnosed from one log line.
// Unknown fields are ignored: within one version the operator may add fields a router ignores.
import { readFile } from 'node:fs/promises';
import { modelUriProblem } from '../common/model-uri.js';
import { ROUTER_CONFIG_VERSION, type RouterConfig, type RouterVariantEndpoint } from '../crds/router-config.js';
import { ROLES, type CacheCanarySpec, type CacheSpec, type DriftMetric, type DriftMode, type TtlMode, type PolicySpec, type PolicyType, type Role, type SlaSpec } from '../crds/types.js';

export class RouterConfigError extends Error {
  override name = 'RouterConfigError';
}

const POLICY_TYPES: readonly PolicyType[] = ['learned', 'heuristic', 'static', 'random', 'round-robin', 'threshold-cascade'];
const DRIFT_METRICS: readonly DriftMetric[] = ['cosine', 'l2'];
const DRIFT_MODES: readonly DriftMode[] = ['enforce', 'observe'];
const TTL_MODES: readonly TtlMode[] = ['adaptive', 'fixed'];
const MAX_CACHE_ENTRIES = 10_000_000;

type Fields = Record<string, unknown>;

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** Reads fields of one JSON object, failing with `<source>: <path> ...`. */
class Reader {
  constructor(
    private readonly source: string,
    private readonly fields: Fields,
    private readonly prefix: string,
  ) {}

  fail(field: string, problem: string): never {
    throw new RouterConfigError(`${this.source}: ${this.path(field)} ${problem}`);
  }

  path(field: string): string {
    return this.prefix ? `${this.prefix}.${field}` : field;
  }

  has(field: string): boolean {
    return this.fields[field] !== undefined;
  }

  object(field: string): Reader {
    const value = this.fields[field];
    if (!isObject(value)) this.fail(field, `must be an object, got ${show(value)}`);
    return new Reader(this.source, value, this.path(field));
  }

  array(field: string): Reader[] {
    const value = this.fields[field];
    if (!Array.isArray(value)) this.fail(field, `must be an array, got ${show(value)}`);
    return value.map((item, i) => {
      if (!isObject(item)) this.fail(`${field}[${i}]`, `must be an object, got ${show(item)}`);
      return new Reader(this.source, item, this.path(`${field}[${i}]`));
    });
  }

  string(field: string): string {
    const value = this.fields[field];
    if (typeof value !== 'string' || value === '') this.fail(field, `must be a non-empty string, got ${show(value)}`);
    return value;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const value = this.fields[field];
    if (!allowed.includes(value as T)) this.fail(field, `must be one of ${allowed.join(', ')}, got ${show(value)}`);
    return value as T;
  }

  boolean(field: string): boolean {
    const value = this.fields[field];
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, got ${show(value)}`);
    return value;
  }

  number(field: string): number {
    const value = this.fields[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(field, `must be a number, got ${show(value)}`);
    return value;
  }

  integer(field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.fields[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      this.fail(field, `must be an integer ${range}, got ${show(value)}`);
    }
    return value;
  }
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function httpUrl(reader: Reader, field: string): string {
  const text = reader.string(field);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return reader.fail(field, `must be an http(s) URL, got ${show(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') reader.fail(field, `must be an http(s) URL, got ${show(text)}`);
  return text;
}

function modelUri(reader: Reader, field: string): string {
  const text = reader.string(field);
  const problem = modelUriProblem(text);
  if (problem) reader.fail(field, `${problem}, got ${show(text)}`);
  return text;
}

function variants(root: Reader): RouterVariantEndpoint[] {
  const items = root.array('variants');
  const seen = new Map<Role, number>();
  const result = items.map((item, i) => {
    const role = item.oneOf('role', ROLES);
    const first = seen.get(role);
    if (first !== undefined) item.fail('role', `"${role}" duplicates variants[${first}].role: exactly one variant per role`);
    seen.set(role, i);
    const variant: RouterVariantEndpoint = { role, name: item.string('name'), endpoint: httpUrl(item, 'endpoint'), modelVersion: item.string('modelVersion') };
    if (item.has('modelUri')) variant.modelUri = modelUri(item, 'modelUri');
    if (item.has('cpuMillis')) {
      const millis = item.number('cpuMillis');
      if (millis <= 0) item.fail('cpuMillis', `must be a positive number of millicores, got ${millis}`);
      variant.cpuMillis = millis;
    }
    return variant;
  });
  const missing = ROLES.filter((role) => !seen.has(role));
  if (missing.length > 0) root.fail('variants', `must have exactly one variant per role, missing ${missing.join(', ')}`);
  return result;
}

function policy(reader: Reader): PolicySpec {
  const type = reader.oneOf('type', POLICY_TYPES);
  const spec: PolicySpec = { type };
  if (reader.has('model')) {
    const model = reader.object('model');
    spec.model = { uri: modelUri(model, 'uri'), ...(model.has('version') ? { version: model.string('version') } : {}) };
  } else if (type === 'learned') {
    reader.fail('model', 'is required when policy.type is learned');
  }
  if (reader.has('staticRole')) spec.staticRole = reader.oneOf('staticRole', ROLES);
  else if (type === 'static') reader.fail('staticRole', 'is required when policy.type is static');
  if (reader.has('confidenceThreshold')) {
    const threshold = reader.number('confidenceThreshold');
    if (threshold <= 0 || threshold >= 1) reader.fail('confidenceThreshold', `must be in (0, 1), got ${threshold}`);
    spec.confidenceThreshold = threshold;
  }
  if (reader.has('distilledInRouter')) spec.distilledInRouter = reader.boolean('distilledInRouter');
  return spec;
}

function sla(reader: Reader): SlaSpec {
  const p99LatencyMs = reader.number('p99LatencyMs');
  if (p99LatencyMs <= 0) reader.fail('p99LatencyMs', `must be greater than 0, got ${p99LatencyMs}`);
  const minAccuracy = reader.number('minAccuracy');
  if (minAccuracy <= 0 || minAccuracy > 1) reader.fail('minAccuracy', `must be in (0, 1], got ${minAccuracy}`);
  return { p99LatencyMs, minAccuracy };
}

function cache(reader: Reader, inputDim: number): CacheSpec {
  const enabled = reader.boolean('enabled');
  const prefixLength = reader.integer('prefixLength', 1);
  if (prefixLength > inputDim) reader.fail('prefixLength', `must be <= inputDim (${inputDim}), got ${prefixLength}`);
  const ttlSeconds = reader.integer('ttlSeconds', 1);
  const maxEntries = reader.integer('maxEntries', 1, MAX_CACHE_ENTRIES);
  const drift = reader.object('drift');
  const metric = drift.oneOf('metric', DRIFT_METRICS);
  const threshold = drift.number('threshold');
  if (threshold <= 0) drift.fail('threshold', `must be greater than 0, got ${threshold}`);
  const sampleRate = drift.number('sampleRate');
  if (sampleRate < 0 || sampleRate > 1) drift.fail('sampleRate', `must be in [0, 1], got ${sampleRate}`);
  // Fields newer than the config version default, so a router reads an older operator's config.
  const mode = drift.has('mode') ? drift.oneOf('mode', DRIFT_MODES) : 'enforce';
  const ttlMode = reader.has('ttlMode') ? reader.oneOf('ttlMode', TTL_MODES) : 'adaptive';
  const spec: CacheSpec = { enabled, prefixLength, ttlSeconds, maxEntries, ttlMode, drift: { metric, threshold, sampleRate, mode } };
  if (reader.has('canary')) spec.canary = canary(reader.object('canary'), inputDim);
  return spec;
}

function canary(reader: Reader, inputDim: number): CacheCanarySpec {
  const fraction = reader.number('fraction');
  if (fraction <= 0 || fraction >= 1) reader.fail('fraction', `must be in (0, 1), got ${fraction}`);
  const spec: CacheCanarySpec = { fraction };
  if (reader.has('prefixLength')) {
    spec.prefixLength = reader.integer('prefixLength', 1);
    if (spec.prefixLength > inputDim) reader.fail('prefixLength', `must be <= inputDim (${inputDim}), got ${spec.prefixLength}`);
  }
  if (reader.has('ttlSeconds')) spec.ttlSeconds = reader.integer('ttlSeconds', 1);
  if (reader.has('ttlMode')) spec.ttlMode = reader.oneOf('ttlMode', TTL_MODES);
  if (reader.has('maxRisk')) {
    const maxRisk = reader.number('maxRisk');
    if (maxRisk <= 0 || maxRisk >= 1) reader.fail('maxRisk', `must be in (0, 1), got ${maxRisk}`);
    spec.maxRisk = maxRisk;
  }
  return spec;
}

export function parseRouterConfig(text: string, source: string): RouterConfig {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new RouterConfigError(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(document)) throw new RouterConfigError(`${source}: must be a JSON object, got ${show(document)}`);
  const root = new Reader(source, document, '');
  const version = document.version;
  if (version !== ROUTER_CONFIG_VERSION) {
    root.fail('version', `must be ${ROUTER_CONFIG_VERSION} (the version this router understands), got ${show(version)}`);
  }
  const cascade = root.object('cascade');
  const inputDim = root.integer('inputDim', 1);
  return {
    version: ROUTER_CONFIG_VERSION,
    cascade: { name: cascade.string('name'), namespace: cascade.string('namespace') },
    inputDim,
    variants: variants(root),
    policy: policy(root.object('policy')),
    sla: sla(root.object('sla')),
    cache: cache(root.object('cache'), inputDim),
  };
}

export async function loadRouterConfig(path: string): Promise<RouterConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RouterConfigError(`${path}: cannot read the router config: ${(err as Error).message}`);
  }
  return parseRouterConfig(text, path);
}
