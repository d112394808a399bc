import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ROUTER_CONFIG_FILE, type RouterConfig } from '../../crds/router-config.js';
import type { InferenceCascade } from '../../crds/types.js';
import {
  CASCADE_LABEL,
  CONFIG_HASH_ANNOTATION,
  defaultBuildOptions,
  desiredChildren,
  FIELD_MANAGER,
  MANAGED_BY,
  VARIANT_LABEL,
  type BuildOptions,
  type ChildObject,
} from '../../operator/desired/index.js';

const SAMPLE = new URL('../../manifests/samples/cascade.yaml', import.meta.url);
const NAME = 'fraud-scorer';
const NS = 'ml-serving';
const UID = '6f1c2d3e-0000-4000-8000-123456789abc';
const options: BuildOptions = defaultBuildOptions;

/** A fresh copy of the shipped sample with the metadata the API server would add. */
function sampleCascade(mutate: (c: InferenceCascade) => void = () => {}): InferenceCascade {
  const cascade = parse(readFileSync(SAMPLE, 'utf8')) as InferenceCascade;
  cascade.metadata = { name: NAME, namespace: NS, uid: UID, generation: 3 };
  mutate(cascade);
  return cascade;
}

// Loose views of the built objects, enough for the assertions below.
interface Container {
  name: string;
  env?: { name: string; value: string }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: {
    allowPrivilegeEscalation?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: string; effect: string }[];
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string }[] }[] } } };
  securityContext: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  containers: Container[];
  volumes?: ({ name: string; configMap?: { name: string } } & Record<string, unknown>)[];
}
interface Deployment extends ChildObject {
  metadata: ChildObject['metadata'] & { ownerReferences: Record<string, unknown>[] };
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
interface Service extends ChildObject {
  spec: { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] };
}
interface ConfigMap extends ChildObject {
  data: Record<string, string>;
}

function build(cascade = sampleCascade()): ChildObject[] {
  return desiredChildren(cascade, options);
}

function find<T extends ChildObject>(children: ChildObject[], kind: string, name: string): T {
  const found = children.find((c) => c.kind === kind && c.metadata.name === name);
  assert.ok(found, `no ${kind} ${name} among ${children.map((c) => `${c.kind}/${c.metadata.name}`).join(', ')}`);
  return found as T;
}

const deployments = (children: ChildObject[]) => children.filter((c): c is Deployment => c.kind === 'Deployment');
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

const VARIANTS = ['quantized', 'pruned', 'distilled', 'full'] as const;
const ROUTER = `${NAME}-router`;

describe('desiredChildren', () => {
  describe('for the shipped sample', () => {
    const children = build();

    it('builds 13 children: a Deployment and Service per variant; the router ConfigMap, ServiceAccount, RoleBinding, Deployment and Service', () => {
      const expected = [
        ...VARIANTS.flatMap((v) => [`Deployment/${NAME}-${v}`, `Service/${NAME}-${v}`]),
        `ConfigMap/${ROUTER}`, `ServiceAccount/${ROUTER}`, `RoleBinding/${ROUTER}`, `Deployment/${ROUTER}`, `Service/${ROUTER}`,
      ];
      assert.equal(children.length, 13);
      assert.deepEqual(children.map((c) => `${c.kind}/${c.metadata.name}`).sort(), [...expected].sort());
      const apiVersions = Object.fromEntries(children.map((c) => [c.kind, c.apiVersion]));
      assert.deepEqual(apiVersions, { Deployment: 'apps/v1', Service: 'v1', ConfigMap: 'v1', ServiceAccount: 'v1', RoleBinding: 'rbac.authorization.k8s.io/v1' });
    });

    it('binds the router pods, and only them, to the router ClusterRole in the cascade namespace', () => {
      const binding = find<any>(children, 'RoleBinding', ROUTER);
      assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'inference-cascade-router' });
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: ROUTER, namespace: NS }]);
      const router = find<Deployment>(children, 'Deployment', ROUTER).spec.template.spec as any;
      assert.equal(router.serviceAccountName, ROUTER);
      assert.equal(router.automountServiceAccountToken, true);
      for (const v of VARIANTS) {
        const variant = find<Deployment>(children, 'Deployment', `${NAME}-${v}`).spec.template.spec as any;
        assert.equal(variant.automountServiceAccountToken, false, `${v} pods get no API credentials`);
        assert.equal(variant.serviceAccountName, undefined);
      }
    });

    it('places every child in the cascade namespace with a controller ownerReference and the managed-by label', () => {
      for (const child of children) {
        const meta = child.metadata as Deployment['metadata'];
        assert.equal(meta.namespace, NS, child.metadata.name);
        assert.deepEqual(meta.ownerReferences, [{
          apiVersion: 'cascade.inference.dev/v1alpha1', kind: 'InferenceCascade', name: NAME, uid: UID,
          controller: true, blockOwnerDeletion: true,
        }], child.metadata.name);
        assert.equal(meta.labels[MANAGED_BY], FIELD_MANAGER, child.metadata.name);
        assert.equal(meta.labels[CASCADE_LABEL], NAME, child.metadata.name);
      }
    });

    it('gives Deployment pod templates the managed-by label too', () => {
      for (const d of deployments(children)) assert.equal(d.spec.template.metadata.labels[MANAGED_BY], FIELD_MANAGER, d.metadata.name);
    });

    it('turns the router\'s overload guard on only when spec.router.overloadDelayMs is set', () => {
      const routerArgs = (cascade: InferenceCascade) => (find<Deployment>(build(cascade), 'Deployment', ROUTER).spec.template.spec.containers[0] as Container & { args: string[] }).args;
      assert.ok(!routerArgs(sampleCascade()).some((a) => a.startsWith('--overload-delay-ms')), 'off by default');
      assert.ok(!routerArgs(sampleCascade((c) => { c.spec.router.overloadDelayMs = 0; })).some((a) => a.startsWith('--overload-delay-ms')));
      assert.ok(routerArgs(sampleCascade((c) => { c.spec.router.overloadDelayMs = 10; })).includes('--overload-delay-ms=10'));
    });

    it('copies variant replicas and router replicas from the spec', () => {
      const replicas = Object.fromEntries(deployments(children).map((d) => [d.metadata.name, d.spec.replicas]));
      assert.deepEqual(replicas, {
        [`${NAME}-quantized`]: 2, [`${NAME}-pruned`]: 1, [`${NAME}-distilled`]: 1, [`${NAME}-full`]: 1, [ROUTER]: 2,
      });
    });

    it('schedules the gpu variant (full) onto GPU nodes with one GPU', () => {
      const pod = find<Deployment>(children, 'Deployment', `${NAME}-full`).spec.template.spec;
      assert.deepEqual(pod.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
      assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
      assert.equal(pod.affinity, undefined);
      assert.equal(pod.containers[0]!.resources.limits?.['nvidia.com/gpu'], '1');
    });

    for (const name of [`${NAME}-quantized`, `${NAME}-pruned`, `${NAME}-distilled`, ROUTER]) {
      it(`keeps ${name} (cpu) off GPU nodes and asks for no GPU`, () => {
        const pod = find<Deployment>(children, 'Deployment', name).spec.template.spec;
        assert.deepEqual(pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
          [{ matchExpressions: [{ key: 'nvidia.com/gpu.present', operator: 'DoesNotExist' }] }]);
        assert.equal(pod.nodeSelector, undefined);
        assert.equal(pod.tolerations, undefined);
        for (const c of pod.containers) assert.equal(c.resources.limits?.['nvidia.com/gpu'], undefined);
      });
    }

    it('meets the Pod Security restricted profile on every pod and container', () => {
      const all = deployments(children);
      assert.equal(all.length, 5);
      for (const d of all) {
        const pod = d.spec.template.spec;
        assert.equal(pod.securityContext.runAsNonRoot, true, d.metadata.name);
        assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault', d.metadata.name);
        assert.ok(pod.containers.length > 0);
        for (const c of pod.containers) {
          assert.equal(c.securityContext.allowPrivilegeEscalation, false, `${d.metadata.name}/${c.name}`);
          assert.deepEqual(c.securityContext.capabilities?.drop, ['ALL'], `${d.metadata.name}/${c.name}`);
          assert.equal(c.securityContext.capabilities?.add, undefined);
        }
      }
    });

    it('selects each Deployment\'s own pods: selector is a subset of its template labels', () => {
      for (const d of deployments(children)) {
        assert.ok(Object.keys(d.spec.selector.matchLabels).length > 0, d.metadata.name);
        assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), d.metadata.name);
      }
    });

    it('never lets one Deployment or Service select another Deployment\'s pods (variants vs router, variant vs variant)', () => {
      const all = deployments(children);
      const services = children.filter((c): c is Service => c.kind === 'Service');
      assert.equal(services.length, 5);
      for (const owner of all) {
        const service = find<Service>(children, 'Service', owner.metadata.name);
        for (const other of all) {
          const same = other === owner;
          const labels = other.spec.template.metadata.labels;
          assert.equal(matches(owner.spec.selector.matchLabels, labels), same, `Deployment ${owner.metadata.name} vs pods of ${other.metadata.name}`);
          assert.equal(matches(service.spec.selector, labels), same, `Service ${service.metadata.name} vs pods of ${other.metadata.name}`);
        }
      }
    });

    it('exposes every Service on the http port', () => {
      for (const s of children.filter((c): c is Service => c.kind === 'Service')) {
        assert.deepEqual(s.spec.ports.map((p) => [p.port, p.targetPort]), [[8080, 'http']], s.metadata.name);
      }
    });

    it('renders router.json listing the four variant endpoints and copying policy, SLA and cache from the spec', () => {
      const cascade = sampleCascade();
      const cm = find<ConfigMap>(children, 'ConfigMap', ROUTER);
      assert.deepEqual(Object.keys(cm.data), [ROUTER_CONFIG_FILE]);
      const config = JSON.parse(cm.data[ROUTER_CONFIG_FILE]!) as RouterConfig;
      assert.equal(config.version, 1);
      assert.deepEqual(config.cascade, { name: NAME, namespace: NS });
      assert.equal(config.inputDim, 32);
      assert.deepEqual(config.variants, VARIANTS.map((v) => ({
        role: v, name: v, endpoint: `http://${NAME}-${v}.${NS}.svc:8080`, modelVersion: '1',
        modelUri: `file:///models/sessions-32/${v}`, cpuMillis: 100,
      })));
      assert.deepEqual(config.policy, cascade.spec.router.policy);
      assert.deepEqual(config.sla, { p99LatencyMs: 40, minAccuracy: 0.9 });
      assert.deepEqual(config.sla, cascade.spec.router.sla);
      assert.deepEqual(config.cache, cascade.spec.cache);
    });

    it('mounts the router ConfigMap into the router pods', () => {
      const pod = find<Deployment>(children, 'Deployment', ROUTER).spec.template.spec;
      assert.deepEqual(pod.volumes, [{ name: 'config', configMap: { name: ROUTER } }]);
      assert.deepEqual(pod.containers[0]!.volumeMounts?.map((m) => m.name), ['config']);
    });

    it('mounts spec.modelVolume read-only at /models in every variant and router pod, and nothing without it', () => {
      const withVolume = build(sampleCascade((c) => { c.spec.modelVolume = { persistentVolumeClaim: { claimName: 'models', readOnly: true } }; }));
      for (const d of deployments(withVolume)) {
        const pod = d.spec.template.spec;
        assert.deepEqual(pod.volumes?.find((v) => v.name === 'models'), { name: 'models', persistentVolumeClaim: { claimName: 'models', readOnly: true } }, d.metadata.name);
        assert.deepEqual(pod.containers[0]!.volumeMounts?.find((m) => m.name === 'models'), { name: 'models', mountPath: '/models', readOnly: true }, d.metadata.name);
      }
      assert.equal(deployments(withVolume).length, 5);
      for (const d of deployments(children)) {
        const pod = d.spec.template.spec;
        assert.ok(!pod.volumes?.some((v) => v.name === 'models') && !pod.containers[0]!.volumeMounts?.some((m) => m.name === 'models'), d.metadata.name);
      }
    });

    it('uses the default requests for variants without resources', () => {
      for (const v of VARIANTS) {
        const c = find<Deployment>(children, 'Deployment', `${NAME}-${v}`).spec.template.spec.containers[0]!;
        assert.deepEqual(c.resources.requests, { cpu: '100m', memory: '128Mi' }, v);
      }
      assert.equal(find<Deployment>(children, 'Deployment', `${NAME}-quantized`).spec.template.spec.containers[0]!.resources.limits, undefined);
    });
  });

  describe('router config hash', () => {
    const hashOf = (cascade: InferenceCascade): string => {
      const hash = find<Deployment>(build(cascade), 'Deployment', ROUTER).spec.template.metadata.annotations?.[CONFIG_HASH_ANNOTATION];
      assert.ok(hash, 'router pod template has no config-hash annotation');
      return hash;
    };
    const base = hashOf(sampleCascade());

    it('is a stable hex digest', () => {
      assert.match(base, /^[0-9a-f]{16}$/);
      assert.equal(hashOf(sampleCascade()), base);
    });

    const changes: [string, (c: InferenceCascade) => void, boolean][] = [
      ['the SLA latency', (c) => { c.spec.router.sla.p99LatencyMs = 50; }, true],
      ['the SLA accuracy floor', (c) => { c.spec.router.sla.minAccuracy = 0.95; }, true],
      ['the cache TTL', (c) => { c.spec.cache.ttlSeconds = 120; }, true],
      ['a variant model version', (c) => { c.spec.variants[0]!.model.version = '2'; }, true],
      ['a variant replica count', (c) => { c.spec.variants[0]!.replicas = 5; }, false],
      ['the router replica count', (c) => { c.spec.router.replicas = 3; }, false],
      ['a variant resource request (the router reloads its new CPU capacity without a restart)', (c) => { c.spec.variants[1]!.resources = { requests: { cpu: '2' } }; }, false],
      ['the generation', (c) => { c.metadata.generation = 9; }, false],
    ];
    for (const [what, mutate, changesHash] of changes) {
      it(`${changesHash ? 'changes' : 'does not change'} when ${what} changes`, () => {
        const hash = hashOf(sampleCascade(mutate));
        if (changesHash) assert.notEqual(hash, base);
        else assert.equal(hash, base);
      });
    }
  });

  describe('variant customisation', () => {
    it('names children after a variant\'s custom name and uses it everywhere', () => {
      const children = build(sampleCascade((c) => { c.spec.variants[1]!.name = 'pruned-v2'; }));
      const names = children.map((c) => `${c.kind}/${c.metadata.name}`);
      assert.ok(names.includes(`Deployment/${NAME}-pruned-v2`), names.join(', '));
      assert.ok(names.includes(`Service/${NAME}-pruned-v2`), names.join(', '));
      assert.ok(!names.some((n) => n.endsWith(`/${NAME}-pruned`)), names.join(', '));
      const d = find<Deployment>(children, 'Deployment', `${NAME}-pruned-v2`);
      assert.equal(d.metadata.labels[VARIANT_LABEL], 'pruned-v2');
      assert.equal(d.spec.selector.matchLabels[VARIANT_LABEL], 'pruned-v2');
      const env = Object.fromEntries(d.spec.template.spec.containers[0]!.env!.map((e) => [e.name, e.value]));
      assert.equal(env.VARIANT_NAME, 'pruned-v2');
      assert.equal(env.VARIANT_ROLE, 'pruned');
      const config = JSON.parse(find<ConfigMap>(children, 'ConfigMap', ROUTER).data[ROUTER_CONFIG_FILE]!) as RouterConfig;
      assert.deepEqual(config.variants[1], {
        role: 'pruned', name: 'pruned-v2', endpoint: `http://${NAME}-pruned-v2.${NS}.svc:8080`, modelVersion: '1',
        modelUri: 'file:///models/sessions-32/pruned', cpuMillis: 100,
      });
    });

    const resourceCases: [string, number, InferenceCascade['spec']['variants'][number]['resources'], { requests: Record<string, string>; limits?: Record<string, string> }][] = [
      ['full override of requests', 0, { requests: { cpu: '2', memory: '1Gi' } }, { requests: { cpu: '2', memory: '1Gi' } }],
      ['partial override keeps the other default', 0, { requests: { memory: '512Mi' } }, { requests: { cpu: '100m', memory: '512Mi' } }],
      ['user limits on a cpu variant', 2, { limits: { cpu: '4' } }, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '4' } }],
      ['user limits on the gpu variant keep the GPU', 3, { requests: { cpu: '1' }, limits: { memory: '8Gi' } },
        { requests: { cpu: '1', memory: '128Mi' }, limits: { memory: '8Gi', 'nvidia.com/gpu': '1' } }],
    ];
    for (const [what, index, resources, expected] of resourceCases) {
      it(`resources: ${what}`, () => {
        const cascade = sampleCascade((c) => { c.spec.variants[index]!.resources = resources; });
        const variant = cascade.spec.variants[index]!;
        const c = find<Deployment>(build(cascade), 'Deployment', `${NAME}-${variant.role}`).spec.template.spec.containers[0]!;
        assert.deepEqual(c.resources, expected);
      });
    }

    it('uses the build options for images, port and the router ClusterRole', () => {
      const custom: BuildOptions = { variantImage: 'example.com/v:1', routerImage: 'example.com/r:1', httpPort: 9000, routerClusterRole: 'team-a-router' };
      const children = desiredChildren(sampleCascade(), custom);
      const images = deployments(children).map((d) => d.spec.template.spec.containers[0] as Container & { image: string }).map((c) => c.image);
      assert.deepEqual(images, ['example.com/v:1', 'example.com/v:1', 'example.com/v:1', 'example.com/v:1', 'example.com/r:1']);
      const config = JSON.parse(find<ConfigMap>(children, 'ConfigMap', ROUTER).data[ROUTER_CONFIG_FILE]!) as RouterConfig;
      assert.equal(config.variants[0]!.endpoint, `http://${NAME}-quantized.${NS}.svc:9000`);
      assert.equal(find<Service>(children, 'Service', ROUTER).spec.ports[0]!.port, 9000);
      assert.equal(find<any>(children, 'RoleBinding', ROUTER).roleRef.name, 'team-a-router');
    });
  });

  describe('purity', () => {
    it('returns deep-equal output for the same input', () => {
      const cascade = sampleCascade((c) => { c.spec.variants[3]!.resources = { limits: { memory: '8Gi' } }; });
      assert.deepEqual(desiredChildren(cascade, options), desiredChildren(cascade, options));
      assert.deepEqual(desiredChildren(cascade, options), desiredChildren(structuredClone(cascade), { ...options }));
    });

    it('does not mutate the cascade or the options', () => {
      const cascade = sampleCascade((c) => {
        c.spec.variants[1]!.name = 'pruned-v2';
        c.spec.variants[3]!.resources = { requests: { cpu: '1' }, limits: { memory: '8Gi' } };
      });
      const cascadeBefore = structuredClone(cascade);
      const optionsBefore = structuredClone(options);
      desiredChildren(cascade, options);
      assert.deepEqual(cascade, cascadeBefore);
      assert.deepEqual(options, optionsBefore);
    });
  });
});
