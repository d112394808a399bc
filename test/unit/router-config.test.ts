import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ROUTER_CONFIG_FILE, type RouterConfig } from '../../crds/router-config.js';
import type { InferenceCascade } from '../../crds/types.js';
import { defaultBuildOptions, desiredChildren } from '../../operator/desired/index.js';
import { loadRouterConfig, parseRouterConfig, RouterConfigError } from '../../router-sidecar/config.js';

const SAMPLE = new URL('../../manifests/samples/cascade.yaml', import.meta.url);

/** The router.json the operator renders for the shipped sample cascade. */
function renderedSample(): string {
  const cascade = parse(readFileSync(SAMPLE, 'utf8')) as InferenceCascade;
  cascade.metadata = { name: 'fraud-scorer', namespace: 'ml-serving', uid: 'u' };
  const configMap = desiredChildren(cascade, defaultBuildOptions).find((child) => child.kind === 'ConfigMap') as { data: Record<string, string> } | undefined;
  const text = configMap?.data[ROUTER_CONFIG_FILE];
  assert.ok(text, 'the operator renders a router ConfigMap');
  return text;
}

type Json = Record<string, any>;

function mutated(mutate: (doc: Json) => void): string {
  const doc = JSON.parse(renderedSample()) as Json;
  mutate(doc);
  return JSON.stringify(doc);
}

function rejects(mutate: (doc: Json) => void, message: string): void {
  assert.throws(
    () => parseRouterConfig(mutated(mutate), 'router.json'),
    (err: unknown) => {
      assert.ok(err instanceof RouterConfigError, `expected RouterConfigError, got ${String(err)}`);
      assert.equal(err.message, message);
      return true;
    },
  );
}

describe('router config', () => {
  it('accepts what the operator renders for the shipped sample', () => {
    const config = parseRouterConfig(renderedSample(), 'router.json');
    assert.equal(config.version, 1);
    assert.deepEqual(config.cascade, { name: 'fraud-scorer', namespace: 'ml-serving' });
    assert.equal(config.inputDim, 32);
    assert.deepEqual(config.variants.map((v) => v.role), ['quantized', 'pruned', 'distilled', 'full']);
    assert.match(config.variants[0]!.endpoint, /^http:\/\/fraud-scorer-quantized\.ml-serving\.svc:\d+$/);
    assert.deepEqual(config.policy, { type: 'heuristic' });
    assert.deepEqual(config.sla, { p99LatencyMs: 40, minAccuracy: 0.9 });
    assert.deepEqual(config.cache, {
      enabled: true, prefixLength: 8, ttlSeconds: 60, maxEntries: 50000, ttlMode: 'adaptive',
      drift: { metric: 'cosine', threshold: 0.06, sampleRate: 0.1, mode: 'enforce' },
    } satisfies RouterConfig['cache']);
  });

  it('reads the TTL mode, the drift mode and a canary cache policy', () => {
    const config = parseRouterConfig(mutated((d) => {
      d.cache.ttlMode = 'fixed';
      d.cache.drift.mode = 'observe';
      d.cache.canary = { fraction: 0.1, prefixLength: 6, ttlSeconds: 5, ttlMode: 'adaptive', maxRisk: 0.02 };
    }), 'router.json');
    assert.equal(config.cache.ttlMode, 'fixed');
    assert.equal(config.cache.drift.mode, 'observe');
    assert.deepEqual(config.cache.canary, { fraction: 0.1, prefixLength: 6, ttlSeconds: 5, ttlMode: 'adaptive', maxRisk: 0.02 });
    assert.deepEqual(parseRouterConfig(mutated((d) => { d.cache.canary = { fraction: 0.5 }; }), 'router.json').cache.canary, { fraction: 0.5 });
  });

  it('refuses model URIs that could step out of the model folder, naming the field', () => {
    rejects((d) => { d.variants[0].modelUri = 'file:///models/%2e%2e/etc/passwd'; },
      `router.json: variants[0].modelUri must not percent-encode '.', '/' or a backslash, got "file:///models/%2e%2e/etc/passwd"`);
    rejects((d) => { d.policy = { type: 'learned', model: { uri: 'file:///models/../p.onnx' } }; },
      `router.json: policy.model.uri must not contain '.' or '..' path segments, got "file:///models/../p.onnx"`);
  });

  it('ignores unknown fields and keeps optional ones', () => {
    const config = parseRouterConfig(mutated((d) => {
      d.extra = true;
      d.policy = { type: 'learned', model: { uri: 'file:///p.onnx', version: '7' }, staticRole: 'full' };
    }), 'router.json');
    assert.equal('extra' in config, false);
    assert.deepEqual(config.policy, { type: 'learned', model: { uri: 'file:///p.onnx', version: '7' }, staticRole: 'full' });
  });

  it('accepts the baseline policy types and a confidence threshold', () => {
    for (const type of ['random', 'round-robin', 'threshold-cascade']) {
      assert.deepEqual(parseRouterConfig(mutated((d) => { d.policy = { type }; }), 'router.json').policy, { type });
    }
    const config = parseRouterConfig(mutated((d) => { d.policy = { type: 'threshold-cascade', confidenceThreshold: 0.75 }; }), 'router.json');
    assert.deepEqual(config.policy, { type: 'threshold-cascade', confidenceThreshold: 0.75 });
    const inRouter = parseRouterConfig(mutated((d) => { d.policy = { type: 'heuristic', distilledInRouter: true }; }), 'router.json');
    assert.deepEqual(inRouter.policy, { type: 'heuristic', distilledInRouter: true });
  });

  it('accepts a sample rate of 0 and 1 and an https endpoint', () => {
    for (const sampleRate of [0, 1]) {
      const config = parseRouterConfig(mutated((d) => { d.cache.drift.sampleRate = sampleRate; }), 'router.json');
      assert.equal(config.cache.drift.sampleRate, sampleRate);
    }
    const config = parseRouterConfig(mutated((d) => { d.variants[1].endpoint = 'https://pruned.example:8443'; }), 'router.json');
    assert.equal(config.variants[1]!.endpoint, 'https://pruned.example:8443');
  });

  const invalid: [string, (doc: Json) => void, string][] = [
    ['a newer version', (d) => { d.version = 2; }, 'router.json: version must be 1 (the version this router understands), got 2'],
    ['a missing version', (d) => { delete d.version; }, 'router.json: version must be 1 (the version this router understands), got nothing'],
    ['no cascade name', (d) => { d.cascade.name = ''; }, 'router.json: cascade.name must be a non-empty string, got ""'],
    ['no namespace', (d) => { delete d.cascade.namespace; }, 'router.json: cascade.namespace must be a non-empty string, got nothing'],
    ['a fractional inputDim', (d) => { d.inputDim = 3.5; }, 'router.json: inputDim must be an integer >= 1, got 3.5'],
    ['a zero inputDim', (d) => { d.inputDim = 0; }, 'router.json: inputDim must be an integer >= 1, got 0'],
    ['variants not an array', (d) => { d.variants = {}; }, 'router.json: variants must be an array, got {}'],
    ['an unknown role', (d) => { d.variants[2].role = 'tiny'; }, 'router.json: variants[2].role must be one of quantized, pruned, distilled, full, got "tiny"'],
    ['a duplicate role', (d) => { d.variants[3].role = 'pruned'; }, 'router.json: variants[3].role "pruned" duplicates variants[1].role: exactly one variant per role'],
    ['a missing role', (d) => { d.variants.splice(2, 1); }, 'router.json: variants must have exactly one variant per role, missing distilled'],
    ['a non-URL endpoint', (d) => { d.variants[0].endpoint = 'not a url'; }, 'router.json: variants[0].endpoint must be an http(s) URL, got "not a url"'],
    ['a non-http endpoint', (d) => { d.variants[0].endpoint = 'grpc://x:9000'; }, 'router.json: variants[0].endpoint must be an http(s) URL, got "grpc://x:9000"'],
    ['no model version', (d) => { d.variants[1].modelVersion = 3; }, 'router.json: variants[1].modelVersion must be a non-empty string, got 3'],
    ['an unknown policy', (d) => { d.policy.type = 'oracle'; }, 'router.json: policy.type must be one of learned, heuristic, static, random, round-robin, threshold-cascade, got "oracle"'],
    ['a confidence threshold of 0', (d) => { d.policy = { type: 'threshold-cascade', confidenceThreshold: 0 }; }, 'router.json: policy.confidenceThreshold must be in (0, 1), got 0'],
    ['a confidence threshold of 1', (d) => { d.policy = { type: 'threshold-cascade', confidenceThreshold: 1 }; }, 'router.json: policy.confidenceThreshold must be in (0, 1), got 1'],
    ['a negative confidence threshold', (d) => { d.policy.confidenceThreshold = -0.2; }, 'router.json: policy.confidenceThreshold must be in (0, 1), got -0.2'],
    ['a string confidence threshold', (d) => { d.policy = { type: 'threshold-cascade', confidenceThreshold: '0.9' }; }, 'router.json: policy.confidenceThreshold must be a number, got "0.9"'],
    ['a string distilledInRouter', (d) => { d.policy.distilledInRouter = 'yes'; }, 'router.json: policy.distilledInRouter must be true or false, got "yes"'],
    ['static without a role', (d) => { d.policy = { type: 'static' }; }, 'router.json: policy.staticRole is required when policy.type is static'],
    ['learned without a model', (d) => { d.policy = { type: 'learned' }; }, 'router.json: policy.model is required when policy.type is learned'],
    ['a model without a uri', (d) => { d.policy = { type: 'learned', model: {} }; }, 'router.json: policy.model.uri must be a non-empty string, got nothing'],
    ['a zero latency budget', (d) => { d.sla.p99LatencyMs = 0; }, 'router.json: sla.p99LatencyMs must be greater than 0, got 0'],
    ['a string latency budget', (d) => { d.sla.p99LatencyMs = '40'; }, 'router.json: sla.p99LatencyMs must be a number, got "40"'],
    ['accuracy above 1', (d) => { d.sla.minAccuracy = 1.5; }, 'router.json: sla.minAccuracy must be in (0, 1], got 1.5'],
    ['accuracy of 0', (d) => { d.sla.minAccuracy = 0; }, 'router.json: sla.minAccuracy must be in (0, 1], got 0'],
    ['a string enabled', (d) => { d.cache.enabled = 'yes'; }, 'router.json: cache.enabled must be true or false, got "yes"'],
    ['a prefix longer than the input', (d) => { d.cache.prefixLength = 40; }, 'router.json: cache.prefixLength must be <= inputDim (32), got 40'],
    ['a zero prefix', (d) => { d.cache.prefixLength = 0; }, 'router.json: cache.prefixLength must be an integer >= 1, got 0'],
    ['a zero TTL', (d) => { d.cache.ttlSeconds = 0; }, 'router.json: cache.ttlSeconds must be an integer >= 1, got 0'],
    ['no entries', (d) => { d.cache.maxEntries = 0; }, 'router.json: cache.maxEntries must be an integer from 1 to 10000000, got 0'],
    ['an unknown metric', (d) => { d.cache.drift.metric = 'kl'; }, 'router.json: cache.drift.metric must be one of cosine, l2, got "kl"'],
    ['a zero threshold', (d) => { d.cache.drift.threshold = 0; }, 'router.json: cache.drift.threshold must be greater than 0, got 0'],
    ['a sample rate above 1', (d) => { d.cache.drift.sampleRate = 1.01; }, 'router.json: cache.drift.sampleRate must be in [0, 1], got 1.01'],
    ['a negative sample rate', (d) => { d.cache.drift.sampleRate = -0.1; }, 'router.json: cache.drift.sampleRate must be in [0, 1], got -0.1'],
    ['no drift block', (d) => { delete d.cache.drift; }, 'router.json: cache.drift must be an object, got nothing'],
    ['an unknown TTL mode', (d) => { d.cache.ttlMode = 'sliding'; }, 'router.json: cache.ttlMode must be one of adaptive, fixed, got "sliding"'],
    ['an unknown drift mode', (d) => { d.cache.drift.mode = 'warn'; }, 'router.json: cache.drift.mode must be one of enforce, observe, got "warn"'],
    ['a canary that is not an object', (d) => { d.cache.canary = 0.1; }, 'router.json: cache.canary must be an object, got 0.1'],
    ['a canary without a fraction', (d) => { d.cache.canary = { ttlSeconds: 5 }; }, 'router.json: cache.canary.fraction must be a number, got nothing'],
    ['a canary fraction of 1', (d) => { d.cache.canary = { fraction: 1 }; }, 'router.json: cache.canary.fraction must be in (0, 1), got 1'],
    ['a canary prefix longer than the input', (d) => { d.cache.canary = { fraction: 0.1, prefixLength: 33 }; }, 'router.json: cache.canary.prefixLength must be <= inputDim (32), got 33'],
    ['a zero canary TTL', (d) => { d.cache.canary = { fraction: 0.1, ttlSeconds: 0 }; }, 'router.json: cache.canary.ttlSeconds must be an integer >= 1, got 0'],
    ['an unknown canary TTL mode', (d) => { d.cache.canary = { fraction: 0.1, ttlMode: 'x' }; }, 'router.json: cache.canary.ttlMode must be one of adaptive, fixed, got "x"'],
    ['a canary maxRisk of 0', (d) => { d.cache.canary = { fraction: 0.1, maxRisk: 0 }; }, 'router.json: cache.canary.maxRisk must be in (0, 1), got 0'],
  ];
  for (const [what, mutate, message] of invalid) {
    it(`rejects ${what}`, () => rejects(mutate, message));
  }

  it('rejects text that is not a JSON object', () => {
    assert.throws(() => parseRouterConfig('{', 'router.json'), /^RouterConfigError: router.json: not valid JSON: /);
    assert.throws(() => parseRouterConfig('[1]', 'router.json'), { message: 'router.json: must be a JSON object, got [1]' });
  });

  it('loads a file and names it in errors', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'router-config-'));
    const file = path.join(dir, 'router.json');
    writeFileSync(file, renderedSample());
    assert.equal((await loadRouterConfig(file)).cascade.name, 'fraud-scorer');
    writeFileSync(file, mutated((d) => { d.inputDim = -1; }));
    await assert.rejects(loadRouterConfig(file), { message: `${file}: inputDim must be an integer >= 1, got -1` });
    await assert.rejects(loadRouterConfig(path.join(dir, 'absent.json')), (err: unknown) => {
      assert.ok(err instanceof RouterConfigError);
      assert.match(err.message, /absent\.json: cannot read the router config: ENOENT/);
      return true;
    });
  });
});
