// The API server itself refuses bad specs, with messages that name the field: the CRD's schema
// and CEL rules as shipped in crds/inferencecascade.yaml.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/cluster/paths.js';
import { ensureCluster, freshNamespace, getJson, kubectl, kubectlError } from '../support/cluster.js';
import { sampleCascade, toYaml, type Json } from '../support/cascades.js';

interface CelRule {
  /** Where the rule reports: the schema path of its node plus its fieldPath, "[*]" for list items. */
  key: string;
  message: string;
}

/** Every x-kubernetes-validations rule in the shipped CRD, read from the file. */
function celRules(): CelRule[] {
  const crd = parse(readFileSync(path.join(ROOT, 'crds', 'inferencecascade.yaml'), 'utf8')) as Json;
  const rules: CelRule[] = [];
  const walk = (node: Json, at: string): void => {
    for (const v of node['x-kubernetes-validations'] ?? []) rules.push({ key: `${at || '<root>'}${v.fieldPath ?? ''} :: ${v.message}`, message: v.message });
    for (const [name, child] of Object.entries(node.properties ?? {})) walk(child as Json, at ? `${at}.${name}` : name);
    if (node.items) walk(node.items, `${at}[*]`);
  };
  for (const version of crd.spec.versions) walk(version.schema.openAPIV3Schema, '');
  return rules;
}

interface CelCase {
  /** The field the API server names in its error ("<nil>" for a rule on the whole object). */
  field: string;
  mutate?: (spec: Json) => void;
  name?: string;
}

const uri = (value: string) => (spec: Json) => { spec.variants[0].model.uri = value; };
const policyUri = (value: string) => (spec: Json) => { spec.router.policy = { type: 'learned', model: { uri: value } }; };
const quantity = (kind: 'requests' | 'limits', resource: 'cpu' | 'memory') => (spec: Json) => { spec.variants[0].resources = { [kind]: { [resource]: 'lots' } }; };
const V0 = 'spec.variants[0]';

/** One violating spec per CEL rule, keyed as celRules() keys them. A new rule needs a case here. */
const CEL_CASES: Record<string, CelCase> = {
  '<root> :: metadata.name must be a DNS label of at most 40 characters starting with a letter (children are named <name>-<variant>)':
    { field: '<nil>', name: '9-starts-with-a-digit' },
  'spec.cache.prefixLength :: must be less than spec.inputDim (it defaults to 8, so set it when inputDim is 8 or less)': { field: 'spec.cache.prefixLength', mutate: (s) => { s.cache.prefixLength = 32; } },
  'spec.cache.canary.prefixLength :: must be less than spec.inputDim':
    { field: 'spec.cache.canary.prefixLength', mutate: (s) => { s.cache.canary = { fraction: 0.1, prefixLength: 32 }; } },
  'spec.variants :: each role may appear only once (two variants have the same role)': { field: 'spec.variants', mutate: (s) => { s.variants[0].role = 'full'; } },
  'spec.variants :: must contain one variant for each role (quantized, pruned, distilled, full)': { field: 'spec.variants', mutate: (s) => { s.variants.pop(); } },
  'spec.variants :: variant names must be unique (a variant without a name is named after its role)':
    { field: 'spec.variants', mutate: (s) => { s.variants[0].name = 'shared'; s.variants[1].name = 'shared'; } },
  'spec.modelVolume :: must hold exactly one volume source, e.g. persistentVolumeClaim: {claimName: models, readOnly: true}; the operator names the volume':
    { field: 'spec.modelVolume', mutate: (s) => { s.modelVolume = { persistentVolumeClaim: { claimName: 'a' }, nfs: { server: 'n', path: '/m' } }; } },
  'spec.variants[*].model.uri :: must be a file:///models/... URI without spaces (pods read models from /models, mounted from spec.modelVolume or built into the images; nothing here downloads http, s3, gs or pvc URIs)': { field: `${V0}.model.uri`, mutate: uri('s3://bucket/x') },
  "spec.variants[*].model.uri :: must not contain '.' or '..' path segments": { field: `${V0}.model.uri`, mutate: uri('file:///models/../etc/passwd') },
  "spec.variants[*].model.uri :: must not percent-encode '.', '/' or a backslash": { field: `${V0}.model.uri`, mutate: uri('file:///models/%2e%2e/etc/passwd') },
  'spec.variants[*].resources.requests.cpu :: must be a Kubernetes quantity such as 500m or 1Gi': { field: `${V0}.resources.requests.cpu`, mutate: quantity('requests', 'cpu') },
  'spec.variants[*].resources.requests.memory :: must be a Kubernetes quantity such as 500m or 1Gi': { field: `${V0}.resources.requests.memory`, mutate: quantity('requests', 'memory') },
  'spec.variants[*].resources.limits.cpu :: must be a Kubernetes quantity such as 500m or 1Gi': { field: `${V0}.resources.limits.cpu`, mutate: quantity('limits', 'cpu') },
  'spec.variants[*].resources.limits.memory :: must be a Kubernetes quantity such as 500m or 1Gi': { field: `${V0}.resources.limits.memory`, mutate: quantity('limits', 'memory') },
  'spec.router.policy :: policy.model is required when policy.type is learned': { field: 'spec.router.policy', mutate: (s) => { s.router.policy = { type: 'learned' }; } },
  'spec.router.policy :: policy.staticRole is required when policy.type is static': { field: 'spec.router.policy', mutate: (s) => { s.router.policy = { type: 'static' }; } },
  'spec.router.policy.model.uri :: must be a file:///models/... URI without spaces (pods read models from /models, mounted from spec.modelVolume or built into the images; nothing here downloads http, s3, gs or pvc URIs)': { field: 'spec.router.policy.model.uri', mutate: policyUri('https://models/policy.onnx') },
  "spec.router.policy.model.uri :: must not contain '.' or '..' path segments": { field: 'spec.router.policy.model.uri', mutate: policyUri('file:///models/./policy.onnx') },
  "spec.router.policy.model.uri :: must not percent-encode '.', '/' or a backslash": { field: 'spec.router.policy.model.uri', mutate: policyUri('file:///models/%5Cpolicy.onnx') },
  'spec.router.sla.p99LatencyMs :: must be greater than 0': { field: 'spec.router.sla.p99LatencyMs', mutate: (s) => { s.router.sla.p99LatencyMs = -1; } },
  'spec.router.sla.minAccuracy :: must be in (0, 1]': { field: 'spec.router.sla.minAccuracy', mutate: (s) => { s.router.sla.minAccuracy = 1.01; } },
  'spec.cache.prefixLength :: must be at least 1': { field: 'spec.cache.prefixLength', mutate: (s) => { s.cache.prefixLength = 0; } },
  'spec.cache.ttlSeconds :: must be greater than 0': { field: 'spec.cache.ttlSeconds', mutate: (s) => { s.cache.ttlSeconds = 0; } },
  'spec.cache.maxEntries :: must be between 1 and 10000000': { field: 'spec.cache.maxEntries', mutate: (s) => { s.cache.maxEntries = 10_000_001; } },
  'spec.cache.canary.fraction :: must be in (0, 1)': { field: 'spec.cache.canary.fraction', mutate: (s) => { s.cache.canary = { fraction: 0 }; } },
  'spec.cache.canary.prefixLength :: must be at least 1': { field: 'spec.cache.canary.prefixLength', mutate: (s) => { s.cache.canary = { fraction: 0.1, prefixLength: 0 }; } },
  'spec.cache.canary.ttlSeconds :: must be greater than 0': { field: 'spec.cache.canary.ttlSeconds', mutate: (s) => { s.cache.canary = { fraction: 0.1, ttlSeconds: -1 }; } },
  'spec.cache.canary.maxRisk :: must be in (0, 1)': { field: 'spec.cache.canary.maxRisk', mutate: (s) => { s.cache.canary = { fraction: 0.1, maxRisk: 0 }; } },
  'spec.cache.drift.threshold :: must be greater than 0': { field: 'spec.cache.drift.threshold', mutate: (s) => { s.cache.drift.threshold = 0; } },
  'spec.cache.drift.sampleRate :: must be in (0, 1]': { field: 'spec.cache.drift.sampleRate', mutate: (s) => { s.cache.drift.sampleRate = 2; } },
};

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

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
    assert.equal(stored.spec.router.overloadDelayMs, 0, 'the router overload guard is off unless asked for');
  });

  it('refuses an overload guard limit below 0 or above 10 s', () => {
    rejects('negative-overload', (spec) => { spec.router.overloadDelayMs = -1; }, 'spec.router.overloadDelayMs: Invalid value', 'should be greater than or equal to 0');
    rejects('huge-overload', (spec) => { spec.router.overloadDelayMs = 10001; }, 'spec.router.overloadDelayMs: Invalid value', 'should be less than or equal to 10000');
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

  it('refuses prefixLength >= inputDim, naming the field, also when it is the default', () => {
    rejects('long-prefix', (spec) => { spec.cache.prefixLength = 32; },
      'spec.cache.prefixLength: Invalid value', 'must be less than spec.inputDim');
    rejects('small-input', (spec) => { spec.inputDim = 4; delete spec.cache; },
      'spec.cache.prefixLength: Invalid value', 'it defaults to 8, so set it when inputDim is 8 or less');
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

  it('refuses model URIs this release cannot load, or that step out of /models', () => {
    // Nothing downloads models: a URI the variant server would refuse at start is refused here.
    for (const [name, value] of [['ftp', 'ftp://models/x.onnx'], ['s3', 's3://bucket/x'], ['gs', 'gs://bucket/x'], ['pvc', 'pvc://claim/x'], ['https', 'https://host/x'], ['spaces', 'file:///models/a b']]) {
      rejects(`scheme-${name}`, (spec) => { spec.variants[0].model.uri = value; },
        'spec.variants[0].model.uri: Invalid value', 'must be a file:///models/... URI without spaces');
    }
    rejects('traversal', (spec) => { spec.variants[0].model.uri = 'file:///models/../etc/passwd'; },
      'spec.variants[0].model.uri: Invalid value', "must not contain '.' or '..' path segments");
    // URL parsing turns %2e%2e into '..': file:///models/%2e%2e/etc/passwd would load /etc/passwd.
    rejects('encoded-traversal', (spec) => { spec.variants[0].model.uri = 'file:///models/%2e%2e/etc/passwd'; },
      'spec.variants[0].model.uri: Invalid value', "must not percent-encode '.', '/' or a backslash");
    rejects('encoded-slash', (spec) => { spec.variants[0].model.uri = 'file:///models/m%2F..%2Fsecrets'; },
      'spec.variants[0].model.uri: Invalid value', "must not percent-encode '.', '/' or a backslash");
    rejects('outside-mount', (spec) => { spec.variants[0].model.uri = 'file:///etc/kubernetes'; },
      'spec.variants[0].model.uri: Invalid value', 'must be a file:///models/... URI');
    rejects('policy-traversal', (spec) => { spec.router.policy = { type: 'learned', model: { uri: 'file:///models/%2E%2E/policy.onnx' } }; },
      'spec.router.policy.model.uri: Invalid value', "must not percent-encode '.', '/' or a backslash");
  });

  it('stores a model volume source as given and refuses one that is not exactly one unnamed source', () => {
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('with-volume', ns, (spec) => {
      spec.modelVolume = { persistentVolumeClaim: { claimName: 'models', readOnly: true } };
    })));
    assert.deepEqual(getJson(['-n', ns, 'get', 'inferencecascade', 'with-volume']).spec.modelVolume, { persistentVolumeClaim: { claimName: 'models', readOnly: true } });
    rejects('two-sources', (spec) => { spec.modelVolume = { persistentVolumeClaim: { claimName: 'a' }, hostPath: { path: '/m' } }; },
      'spec.modelVolume: Invalid value', 'must hold exactly one volume source');
    rejects('empty-volume', (spec) => { spec.modelVolume = {}; }, 'spec.modelVolume: Invalid value', 'must hold exactly one volume source');
    // A Volume rather than a volume source: its name is not a source.
    rejects('named-volume', (spec) => { spec.modelVolume = { name: 'models', persistentVolumeClaim: { claimName: 'models' } }; }, 'spec.modelVolume.name: Invalid value', 'must be of type object');
  });

  it('refuses resource values that are not quantities', () => {
    rejects('bad-quantity', (spec) => { spec.variants[0].resources = { requests: { cpu: 'lots' } }; },
      'spec.variants[0].resources.requests.cpu: Invalid value', 'must be a Kubernetes quantity');
  });

  it('refuses a name too long for its children', () => {
    const error = kubectlError(['apply', '-f', '-'], toYaml(sampleCascade('a'.repeat(41), ns)));
    assert.ok(error?.includes('metadata.name must be a DNS label of at most 40 characters'), error);
  });

  describe('every CEL rule in crds/inferencecascade.yaml refuses with its exact message', () => {
    const rules = celRules();

    it('has a case for each rule and no case for a rule that is gone', () => {
      assert.ok(rules.length >= 30, `${rules.length} rules read from the CRD`);
      assert.deepEqual(Object.keys(CEL_CASES).sort(), rules.map((r) => r.key).sort());
    });

    rules.forEach((rule, i) => {
      it(rule.key, () => {
        const testCase = CEL_CASES[rule.key];
        assert.ok(testCase, `no case in CEL_CASES for the rule "${rule.key}"`);
        const name = testCase.name ?? `cel-${i}`;
        const error = kubectlError(['apply', '-f', '-'], toYaml(sampleCascade(name, ns, testCase.mutate)));
        assert.ok(error, `${name} was accepted`);
        // As the API server words it: <field>: Invalid value: "<type>": <message>, one error a line.
        const line = new RegExp(`(?:^|: |\\* )${escape(testCase.field)}: Invalid value: "\\w+": ${escape(rule.message)}$`, 'm');
        assert.match(error, line);
      });
    });
  });

  it('prunes unknown fields instead of storing them', () => {
    const cascade = sampleCascade('pruned-fields', ns, (spec) => { spec.surprise = 'x'; spec.cache.alsoSurprise = 1; });
    kubectl(['apply', '--validate=false', '-f', '-'], toYaml(cascade));
    const stored = getJson(['-n', ns, 'get', 'inferencecascade', 'pruned-fields']);
    assert.equal(stored.spec.surprise, undefined);
    assert.equal(stored.spec.cache.alsoSurprise, undefined);
  });
});
