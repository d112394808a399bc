import assert from 'node:assert/strict';
import { parseQuantity } from '../../common/quantity.js';
import { containsDesired, needsReplacement } from '../../operator/diff.js';

type Json = Record<string, any>;

/** A desired Deployment shaped like the operator's, small enough to read. */
function desiredDeployment(): Json {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'c-full',
      namespace: 'ns',
      labels: { 'app.kubernetes.io/managed-by': 'inference-cascade-operator', 'cascade.inference.dev/variant': 'full' },
      ownerReferences: [{ apiVersion: 'cascade.inference.dev/v1alpha1', kind: 'InferenceCascade', name: 'c', uid: 'u1', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { 'cascade.inference.dev/variant': 'full' } },
      template: {
        metadata: { labels: { 'cascade.inference.dev/variant': 'full' }, annotations: { 'cascade.inference.dev/config-hash': 'abc' } },
        spec: {
          automountServiceAccountToken: false,
          nodeSelector: { 'nvidia.com/gpu.present': 'true' },
          tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
          containers: [{
            name: 'server',
            image: 'img:1',
            env: [{ name: 'MODEL_VERSION', value: '0.5' }],
            ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
            resources: { requests: { cpu: '0.5', memory: '1Gi' }, limits: { 'nvidia.com/gpu': '1', memory: '1e3' } },
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          }],
        },
      },
    },
  };
}

/** What the API server returns for it: defaults added, quantities canonicalised, status filled. */
function observedDeployment(): Json {
  const o = desiredDeployment();
  Object.assign(o.metadata, {
    uid: 'd1', resourceVersion: '812', generation: 4, creationTimestamp: '2026-01-01T00:00:00Z',
    annotations: { 'deployment.kubernetes.io/revision': '3' },
    managedFields: [{ manager: 'inference-cascade-operator', operation: 'Apply' }],
  });
  o.metadata.labels['extra'] = 'added-by-someone-else';
  Object.assign(o.spec, { progressDeadlineSeconds: 600, revisionHistoryLimit: 10, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } });
  const pod = o.spec.template.spec;
  Object.assign(pod, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30, securityContext: {} });
  pod.tolerations[0].tolerationSeconds = undefined;
  const c = pod.containers[0];
  Object.assign(c, { imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' });
  c.resources = { requests: { cpu: '500m', memory: '1024Mi' }, limits: { 'nvidia.com/gpu': '1', memory: '1k' } };
  o.status = { observedGeneration: 4, replicas: 2, availableReplicas: 2 };
  return o;
}

describe('containsDesired', () => {
  it('accepts an identical copy', () => {
    assert.equal(containsDesired(structuredClone(desiredDeployment()), desiredDeployment()), true);
  });

  it('ignores fields the API server added and compares requests/limits by value', () => {
    assert.equal(containsDesired(observedDeployment(), desiredDeployment()), true);
  });

  it("compares a volume's sizeLimit by value (the API server writes 1024Mi back as 1Gi)", () => {
    const desired = { spec: { volumes: [{ name: 'models', emptyDir: { sizeLimit: '1024Mi' } }] } };
    assert.equal(containsDesired({ spec: { volumes: [{ name: 'models', emptyDir: { sizeLimit: '1Gi', medium: '' } }] } }, desired), true);
    assert.equal(containsDesired({ spec: { volumes: [{ name: 'models', emptyDir: { sizeLimit: '2Gi' } }] } }, desired), false);
  });

  const changes: [string, (observed: Json) => void][] = [
    ['a changed scalar (image)', (o) => { o.spec.template.spec.containers[0].image = 'img:2'; }],
    ['a changed number (replicas)', (o) => { o.spec.replicas = 3; }],
    ['a number turned string', (o) => { o.spec.replicas = '2'; }],
    ['a changed boolean', (o) => { o.spec.template.spec.automountServiceAccountToken = true; }],
    ['a changed annotation (config hash)', (o) => { o.spec.template.metadata.annotations['cascade.inference.dev/config-hash'] = 'def'; }],
    ['a missing label', (o) => { delete o.metadata.labels['cascade.inference.dev/variant']; }],
    ['a missing object (nodeSelector)', (o) => { delete o.spec.template.spec.nodeSelector; }],
    ['a missing array (tolerations)', (o) => { delete o.spec.template.spec.tolerations; }],
    ['a scalar where an object is wanted', (o) => { o.spec.selector = 'x'; }],
    ['an array where an object is wanted', (o) => { o.spec.selector.matchLabels = [{ 'cascade.inference.dev/variant': 'full' }]; }],
    ['null where an object is wanted', (o) => { o.spec.template.spec.nodeSelector = null; }],
    ['an extra array element (env)', (o) => { o.spec.template.spec.containers[0].env.push({ name: 'X', value: '1' }); }],
    ['an extra array element (ownerReferences)', (o) => { o.metadata.ownerReferences.push({ kind: 'Other', uid: 'u2' }); }],
    ['a missing array element (capabilities.drop)', (o) => { o.spec.template.spec.containers[0].securityContext.capabilities.drop = []; }],
    ['a changed array element', (o) => { o.spec.template.spec.tolerations[0].effect = 'NoExecute'; }],
    ['reordered array elements', (o) => {
      o.spec.template.spec.containers[0].env = [{ name: 'A', value: '1' }, { name: 'MODEL_VERSION', value: '0.5' }];
    }],
    ['a different request quantity', (o) => { o.spec.template.spec.containers[0].resources.requests.cpu = '600m'; }],
    ['a different limit quantity (1G is not 1Gi)', (o) => { o.spec.template.spec.containers[0].resources.requests.memory = '1G'; }],
    ['an unparseable quantity', (o) => { o.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'] = 'one'; }],
    ['a missing limit', (o) => { delete o.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu']; }],
  ];
  for (const [what, mutate] of changes) {
    it(`detects ${what}`, () => {
      const observed = observedDeployment();
      mutate(observed);
      assert.equal(containsDesired(observed, desiredDeployment()), false);
    });
  }

  it('detects a wholly absent object', () => {
    assert.equal(containsDesired(undefined, desiredDeployment()), false);
    assert.equal(containsDesired(null, desiredDeployment()), false);
  });

  describe('quantities', () => {
    const pairs: [string, string, string, boolean][] = [
      // path, desired, observed, contained?
      ['spec.template.spec.containers.0.resources.requests.cpu', '0.5', '500m', true],
      ['spec.template.spec.containers.0.resources.requests.cpu', '500m', '0.5', true],
      ['spec.template.spec.containers.0.resources.requests.cpu', '2', '2000m', true],
      ['spec.template.spec.containers.0.resources.requests.cpu', '0.3', '300m', true],
      ['spec.template.spec.containers.0.resources.requests.memory', '1Gi', '1024Mi', true],
      ['spec.template.spec.containers.0.resources.limits.memory', '1Gi', '1024Mi', true],
      ['spec.template.spec.containers.0.resources.limits.memory', '1e3', '1k', true],
      ['spec.template.spec.containers.0.resources.limits.memory', '1k', '1000', true],
      ['spec.template.spec.containers.0.resources.limits.memory', '1Ki', '1k', false],
      ['spec.template.spec.containers.0.resources.limits.memory', '1Gi', '1G', false],
      ['spec.template.spec.containers.0.resources.requests.cpu', '100m', '0.2', false],
      ['spec.template.spec.containers.0.resources.requests.cpu', 'abc', 'abc', true],
      ['spec.template.spec.containers.0.resources.requests.cpu', 'abc', 'abd', false],
      // Outside resources.requests / resources.limits strings must match exactly.
      ['spec.template.spec.containers.0.env.0.value', '0.5', '500m', false],
      ['spec.template.spec.containers.0.env.0.value', '1Gi', '1024Mi', false],
      ['spec.template.metadata.annotations.size', '1e3', '1k', false],
      ['spec.template.spec.containers.0.resources.claims', '1k', '1000', false],
      ['spec.limits.memory', '1Gi', '1024Mi', false],
      ['spec.requests.cpu', '0.5', '500m', false],
    ];
    const nest = (path: string, value: string): Json => {
      // Nested objects along the path, with arrays for numeric segments.
      const root: Json = {};
      const keys = path.split('.');
      let node: any = root;
      keys.forEach((k, i) => {
        if (i === keys.length - 1) {
          node[k] = value;
          return;
        }
        const next = /^\d+$/.test(keys[i + 1]!) ? [] : {};
        node[k] ??= next;
        node = node[k];
      });
      return root;
    };
    for (const [path, desired, observed, contained] of pairs) {
      it(`${contained ? 'equates' : 'distinguishes'} ${desired} and ${observed} at ${path}`, () => {
        assert.equal(containsDesired(nest(path, observed), nest(path, desired)), contained);
      });
    }
  });
});

describe('parseQuantity', () => {
  const valid: [string, number][] = [
    ['0', 0],
    ['1', 1],
    ['+1', 1],
    ['-1', -1],
    ['1.', 1],
    ['.5', 0.5],
    ['0.5', 0.5],
    ['500m', 0.5],
    ['250u', 250e-6],
    ['100n', 100e-9],
    ['1k', 1e3],
    ['1M', 1e6],
    ['1G', 1e9],
    ['2T', 2e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['1Ki', 1024],
    ['1Mi', 2 ** 20],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1Ti', 2 ** 40],
    ['1Pi', 2 ** 50],
    ['1Ei', 2 ** 60],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1e+3', 1000],
    ['2e-3', 0.002],
    ['12e0', 12],
  ];
  for (const [text, value] of valid) {
    it(`parses ${JSON.stringify(text)} as ${value}`, () => {
      const parsed = parseQuantity(text);
      assert.ok(parsed !== undefined, `${text} did not parse`);
      assert.ok(Math.abs(parsed - value) <= 1e-12 * Math.max(1, Math.abs(value)), `${text}: ${parsed} != ${value}`);
    });
  }

  const invalid = ['', ' ', 'abc', 'Mi', 'm', '1 Gi', ' 1', '1 ', '1.5.5', '1KB', '1K', '1mi', '1kk', '1i', '1e', '1e3k', '1Gie3', '0x10', 'NaN', 'Infinity', '--1', '1,5', '.'];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseQuantity(text), undefined);
    });
  }
});

describe('needsReplacement', () => {
  const binding = (role: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'r', namespace: 'n' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'ServiceAccount', name: 'r', namespace: 'n' }],
  });

  it('replaces a RoleBinding whose roleRef (immutable) names another role', () => {
    assert.equal(needsReplacement(binding('view'), binding('inference-cascade-router')), true);
  });

  it('patches a RoleBinding whose roleRef matches, whatever else differs', () => {
    const observed = { ...binding('inference-cascade-router'), subjects: [] };
    assert.equal(needsReplacement(observed, binding('inference-cascade-router')), false);
  });

  it('never replaces other kinds', () => {
    const deployment = { kind: 'Deployment', spec: { selector: { matchLabels: { a: '1' } } } };
    assert.equal(needsReplacement(deployment, { ...deployment, spec: { selector: { matchLabels: { a: '2' } } } }), false);
  });
});
