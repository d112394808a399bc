// The API server itself refuses bad specs, with messages that name the field: the CRD's schema
// and CEL rules as shipped in crds/inferencecascade.yaml.
import assert from 'node:assert/strict';
import { ensureCluster, freshNamespace, getJson, kubectl, kubectlError } from '../support/cluster.js';
import { sampleCascade, toYaml, type Json } from '../support/cascades.js';

describe('InferenceCascade CRD validation (real API server)', function () {
  this.timeout(600_000);
  let ns: string;

  before(async function () {
    await ensureCluster();
    ns = freshNamespace('crd');
  });

  const rejects = (name: string, mutate: (spec: Json) => void, ...expected: string[]): void => {
    const error = kubectlError(['apply', '-f', '-'], toYaml(sampleCascade(name, ns, mutate)));
    assert.ok(error, `${name} was accepted`);
    for (const text of expected) assert.ok(error.includes(text), `expected "${text}" in:\n${error}`);
  };

  it('accepts the shipped sample and fills in defaults', () => {
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('valid', ns, (spec) => {
      delete spec.cache;
      delete spec.router.sla;
    })));
    const stored = getJson(['-n', ns, 'get', 'inferencecascade', 'valid']);
    assert.deepEqual(stored.spec.cache, {
      enabled: true, prefixLength: 8, ttlSeconds: 60, maxEntries: 50000, ttlMode: 'adaptive',
      drift: { metric: 'cosine', threshold: 0.15, sampleRate: 0.05, mode: 'enforce' },
    });
    assert.deepEqual(stored.spec.router.sla, { p99LatencyMs: 40, minAccuracy: 0.97 });
  });

  it('refuses two variants with the same role', () => {
    rejects('two-full', (spec) => { spec.variants[0].role = 'full'; },
      'spec.variants: Invalid value', 'each role may appear only once');
  });

  it('refuses a cascade missing a role', () => {
    rejects('three-roles', (spec) => { spec.variants.pop(); },
      'spec.variants: Invalid value', 'must contain one variant for each role (quantized, pruned, distilled, full)');
  });

  it('refuses an unknown role', () => {
    rejects('unknown-role', (spec) => { spec.variants[0].role = 'tiny'; },
      'spec.variants[0].role: Unsupported value: "tiny"');
  });

  it('refuses duplicate variant names', () => {
    rejects('dup-names', (spec) => { spec.variants[0].name = 'shared'; spec.variants[1].name = 'shared'; },
      'spec.variants: Invalid value', 'variant names must be unique');
  });

  it('refuses prefixLength >= inputDim, naming the field', () => {
    rejects('long-prefix', (spec) => { spec.cache.prefixLength = 32; },
      'spec.cache.prefixLength: Invalid value', 'must be less than spec.inputDim');
  });

  it('refuses a negative or zero TTL', () => {
    rejects('negative-ttl', (spec) => { spec.cache.ttlSeconds = -5; }, 'spec.cache.ttlSeconds: Invalid value', 'must be greater than 0');
    rejects('zero-ttl', (spec) => { spec.cache.ttlSeconds = 0; }, 'spec.cache.ttlSeconds: Invalid value', 'must be greater than 0');
  });

  it('refuses a sample rate outside (0, 1]', () => {
    rejects('rate-zero', (spec) => { spec.cache.drift.sampleRate = 0; }, 'spec.cache.drift.sampleRate: Invalid value', 'must be in (0, 1]');
    rejects('rate-big', (spec) => { spec.cache.drift.sampleRate = 1.5; }, 'spec.cache.drift.sampleRate: Invalid value', 'must be in (0, 1]');
  });

  it('accepts a canary cache policy and refuses bad canary fields, naming them', () => {
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('canary', ns, (spec) => {
      spec.cache.ttlMode = 'fixed';
      spec.cache.drift.mode = 'observe';
      spec.cache.canary = { fraction: 0.1, ttlSeconds: 10, ttlMode: 'adaptive', prefixLength: 6, maxRisk: 0.02 };
    })));
    const stored = getJson(['-n', ns, 'get', 'inferencecascade', 'canary']);
    assert.deepEqual(stored.spec.cache.canary, { fraction: 0.1, ttlSeconds: 10, ttlMode: 'adaptive', prefixLength: 6, maxRisk: 0.02 });
    rejects('canary-fraction', (spec) => { spec.cache.canary = { fraction: 1 }; }, 'spec.cache.canary.fraction: Invalid value', 'must be in (0, 1)');
    rejects('canary-missing-fraction', (spec) => { spec.cache.canary = { ttlSeconds: 5 }; }, 'spec.cache.canary.fraction: Required value');
    rejects('canary-prefix', (spec) => { spec.cache.canary = { fraction: 0.1, prefixLength: 32 }; }, 'spec.cache.canary.prefixLength: Invalid value', 'must be less than spec.inputDim');
    rejects('canary-ttl', (spec) => { spec.cache.canary = { fraction: 0.1, ttlSeconds: 0 }; }, 'spec.cache.canary.ttlSeconds: Invalid value', 'must be greater than 0');
    rejects('canary-risk', (spec) => { spec.cache.canary = { fraction: 0.1, maxRisk: 1.5 }; }, 'spec.cache.canary.maxRisk: Invalid value', 'must be in (0, 1)');
    rejects('ttl-mode', (spec) => { spec.cache.ttlMode = 'sliding'; }, 'spec.cache.ttlMode: Unsupported value: "sliding"');
    rejects('drift-mode', (spec) => { spec.cache.drift.mode = 'warn'; }, 'spec.cache.drift.mode: Unsupported value: "warn"');
  });

  it('refuses non-positive SLA values', () => {
    rejects('sla-latency', (spec) => { spec.router.sla.p99LatencyMs = 0; }, 'spec.router.sla.p99LatencyMs: Invalid value', 'must be greater than 0');
    rejects('sla-accuracy', (spec) => { spec.router.sla.minAccuracy = -0.1; }, 'spec.router.sla.minAccuracy: Invalid value', 'must be in (0, 1]');
  });

  it('refuses a learned policy without a model and a static policy without a role', () => {
    rejects('learned-no-model', (spec) => { spec.router.policy = { type: 'learned' }; },
      'spec.router.policy: Invalid value', 'policy.model is required when policy.type is learned');
    rejects('static-no-role', (spec) => { spec.router.policy = { type: 'static' }; },
      'spec.router.policy: Invalid value', 'policy.staticRole is required when policy.type is static');
  });

  it('refuses model URIs with an unknown scheme or a path traversal', () => {
    rejects('bad-scheme', (spec) => { spec.variants[0].model.uri = 'ftp://models/x.onnx'; },
      'spec.variants[0].model.uri: Invalid value', 'must be a file://, http(s)://, s3://, gs:// or pvc:// URI');
    rejects('traversal', (spec) => { spec.variants[0].model.uri = 'file:///models/../etc/passwd'; },
      'spec.variants[0].model.uri: Invalid value', "must not contain '.' or '..' path segments");
    // URL parsing turns %2e%2e into '..': file:///models/%2e%2e/etc/passwd would load /etc/passwd.
    rejects('encoded-traversal', (spec) => { spec.variants[0].model.uri = 'file:///models/%2e%2e/etc/passwd'; },
      'spec.variants[0].model.uri: Invalid value', "must not percent-encode '.', '/' or a backslash");
    rejects('encoded-slash', (spec) => { spec.variants[0].model.uri = 's3://bucket/models%2F..%2Fsecrets'; },
      'spec.variants[0].model.uri: Invalid value', "must not percent-encode '.', '/' or a backslash");
    rejects('outside-mount', (spec) => { spec.variants[0].model.uri = 'file:///etc/kubernetes'; },
      'spec.variants[0].model.uri: Invalid value', 'a file:// URI must name a folder under /models/, where the images mount models');
    rejects('policy-traversal', (spec) => { spec.router.policy = { type: 'learned', model: { uri: 'file:///models/%2E%2E/policy.onnx' } }; },
      'spec.router.policy.model.uri: Invalid value', "must not percent-encode '.', '/' or a backslash");
  });

  it('refuses resource values that are not quantities', () => {
    rejects('bad-quantity', (spec) => { spec.variants[0].resources = { requests: { cpu: 'lots' } }; },
      'spec.variants[0].resources.requests.cpu: Invalid value', 'must be a Kubernetes quantity');
  });

  it('refuses a name too long for its children', () => {
    const error = kubectlError(['apply', '-f', '-'], toYaml(sampleCascade('a'.repeat(41), ns)));
    assert.ok(error?.includes('metadata.name must be a DNS label of at most 40 characters'), error);
  });

  it('prunes unknown fields instead of storing them', () => {
    const cascade = sampleCascade('pruned-fields', ns, (spec) => { spec.surprise = 'x'; spec.cache.alsoSurprise = 1; });
    kubectl(['apply', '--validate=false', '-f', '-'], toYaml(cascade));
    const stored = getJson(['-n', ns, 'get', 'inferencecascade', 'pruned-fields']);
    assert.equal(stored.spec.surprise, undefined);
    assert.equal(stored.spec.cache.alsoSurprise, undefined);
  });
});
