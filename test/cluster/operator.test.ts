// The operator against the real local control plane: kube-scheduler places the pods, kwok runs
// them, kube-controller-manager's garbage collector deletes children. The operator runs as its own
// process with the ServiceAccount token that the shipped RBAC binds.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { serviceAccountUser, writesBy } from '../support/audit.js';
import { sampleCascade, toYaml } from '../support/cascades.js';
import {
  ensureCluster, freshNamespace, getJson, kubectl, OPERATOR_NAMESPACE, OPERATOR_SA, serviceAccountKubeconfig,
} from '../support/cluster.js';
import { consistently, eventually } from '../support/eventually.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';

const VARIANTS = ['quantized', 'pruned', 'distilled', 'full'];
const RESYNC_SECONDS = 10;
const OPERATOR_USER = serviceAccountUser(OPERATOR_NAMESPACE, OPERATOR_SA);

function readyCondition(ns: string, name: string): string | undefined {
  const cascade = getJson(['-n', ns, 'get', 'inferencecascade', name]);
  return cascade.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status;
}

function podsByVariant(ns: string, cascade: string): Map<string, { node: string; phase: string }[]> {
  const pods = getJson(['-n', ns, 'get', 'pods', '-l', `cascade.inference.dev/cascade=${cascade}`]).items;
  const byVariant = new Map<string, { node: string; phase: string }[]>();
  for (const pod of pods) {
    const key = pod.metadata.labels['cascade.inference.dev/variant'] ?? 'router';
    byVariant.set(key, [...(byVariant.get(key) ?? []), { node: pod.spec.nodeName, phase: pod.status.phase }]);
  }
  return byVariant;
}

function resourceVersions(ns: string): Record<string, string> {
  const items = getJson(['-n', ns, 'get', 'deployments,services,configmaps,inferencecascades', '-l', 'app.kubernetes.io/managed-by=inference-cascade-operator']).items;
  const cascades = getJson(['-n', ns, 'get', 'inferencecascades']).items;
  return Object.fromEntries([...items, ...cascades].map((o: any) => [`${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]));
}

describe('operator on the local control plane', function () {
  this.timeout(600_000);
  let operator: OperatorProcess;
  let kubeconfig: string;

  before(async function () {
    await ensureCluster();
    kubeconfig = serviceAccountKubeconfig();
    // The shortest resync the operator allows, so the steady-state window below sees it re-reconcile everything.
    operator = await startOperator({ kubeconfig, identity: 'operator-main', extraArgs: [`--resync-period-seconds=${RESYNC_SECONDS}`] });
  });

  after(async () => {
    await operator?.stop();
  });

  it('creates every child within 10 s, places pods by accelerator and turns Ready', async () => {
    const ns = freshNamespace('sample');
    const applied = Date.now();
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('fraud-scorer', ns)));

    await eventually(() => {
      const deployments = getJson(['-n', ns, 'get', 'deployments']).items.map((d: any) => d.metadata.name).sort();
      const services = getJson(['-n', ns, 'get', 'services']).items.map((s: any) => s.metadata.name).sort();
      const expected = [...VARIANTS.map((v) => `fraud-scorer-${v}`), 'fraud-scorer-router'].sort();
      assert.deepEqual(deployments, expected);
      assert.deepEqual(services, expected);
      kubectl(['-n', ns, 'get', 'configmap', 'fraud-scorer-router']);
    }, { timeoutMs: 10_000 });
    const childrenAfterMs = Date.now() - applied;

    await eventually(() => assert.equal(readyCondition(ns, 'fraud-scorer'), 'True'), { timeoutMs: 60_000 });
    const pods = podsByVariant(ns, 'fraud-scorer');
    assert.equal(pods.get('full')?.length, 1);
    assert.ok(pods.get('full')!.every((p) => p.node.startsWith('kwok-gpu-')), `full-precision pods: ${JSON.stringify(pods.get('full'))}`);
    for (const role of ['quantized', 'pruned', 'distilled', 'router']) {
      assert.ok(pods.get(role)!.every((p) => p.node.startsWith('kwok-cpu-')), `${role} pods: ${JSON.stringify(pods.get(role))}`);
    }
    assert.equal(pods.get('quantized')?.length, 2);
    assert.ok([...pods.values()].flat().every((p) => p.phase === 'Running'), 'kwok runs every pod');

    const gpuPodSpec = getJson(['-n', ns, 'get', 'deployment', 'fraud-scorer-full']).spec.template.spec;
    assert.equal(gpuPodSpec.containers[0].resources.limits['nvidia.com/gpu'], '1');
    assert.deepEqual(gpuPodSpec.nodeSelector, { 'nvidia.com/gpu.present': 'true' });

    const table = kubectl(['-n', ns, 'get', 'inferencecascades']);
    assert.match(table, /NAME\s+READY\s+VARIANTS\s+CACHE\s+AGE/);
    assert.match(table, /fraud-scorer\s+True\s+4\/4\s+Enabled/);
    const config = JSON.parse(getJson(['-n', ns, 'get', 'configmap', 'fraud-scorer-router']).data['router.json']);
    assert.equal(config.variants.length, 4);
    assert.equal(config.variants.find((v: any) => v.role === 'full').endpoint, `http://fraud-scorer-full.${ns}.svc:8080`);
    const events = getJson(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.kind=InferenceCascade']).items;
    assert.ok(events.some((e: any) => e.reason === 'Created'), 'a Created event is recorded');
    process.stderr.write(`      children present ${childrenAfterMs} ms after apply\n`);
  });

  it('carries a spec change to the children and follows it with observedGeneration', async () => {
    const ns = freshNamespace('change');
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('change-me', ns)));
    await eventually(() => assert.equal(readyCondition(ns, 'change-me'), 'True'), { timeoutMs: 60_000 });

    kubectl(['-n', ns, 'patch', 'inferencecascade', 'change-me', '--type=json', '-p', JSON.stringify([
      { op: 'replace', path: '/spec/variants/0/replicas', value: 3 },
      { op: 'replace', path: '/spec/router/sla/p99LatencyMs', value: 25 },
    ])]);
    await eventually(() => {
      const cascade = getJson(['-n', ns, 'get', 'inferencecascade', 'change-me']);
      assert.equal(cascade.status.observedGeneration, cascade.metadata.generation);
      assert.equal(getJson(['-n', ns, 'get', 'deployment', 'change-me-quantized']).spec.replicas, 3);
      const config = JSON.parse(getJson(['-n', ns, 'get', 'configmap', 'change-me-router']).data['router.json']);
      assert.equal(config.sla.p99LatencyMs, 25);
      assert.equal(readyCondition(ns, 'change-me'), 'True');
    }, { timeoutMs: 30_000 });
    assert.equal(podsByVariant(ns, 'change-me').get('quantized')?.length, 3);
  });

  it('reports pods the ReplicaSet cannot create (a pod quota) as a stalled rollout naming the Deployment and the cause', async () => {
    const ns = freshNamespace('quota');
    kubectl(['apply', '-f', '-'], toYaml({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-pods', namespace: ns }, spec: { hard: { pods: '0' } } }));
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('quota', ns)));
    await eventually(() => {
      const conditions = getJson(['-n', ns, 'get', 'inferencecascade', 'quota']).status?.conditions ?? [];
      const variants = conditions.find((c: { type: string }) => c.type === 'VariantsAvailable');
      const ready = conditions.find((c: { type: string }) => c.type === 'Ready');
      assert.equal(variants?.reason, 'FailedCreate');
      assert.match(variants.message, /variant \w+ \(Deployment quota-\w+\): FailedCreate: .*exceeded quota: no-pods/);
      assert.deepEqual([ready?.status, ready?.reason], ['False', 'RolloutStalled']);
    }, { timeoutMs: 30_000 });
  });

  it('recreates a child deleted by hand, and the garbage collector removes all children with the cascade', async () => {
    const ns = freshNamespace('gc');
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('gc-me', ns)));
    await eventually(() => assert.equal(readyCondition(ns, 'gc-me'), 'True'), { timeoutMs: 60_000 });
    const oldUid = getJson(['-n', ns, 'get', 'deployment', 'gc-me-pruned']).metadata.uid;

    kubectl(['-n', ns, 'delete', 'deployment', 'gc-me-pruned', '--wait=true']);
    await eventually(() => {
      const recreated = getJson(['-n', ns, 'get', 'deployment', 'gc-me-pruned']);
      assert.notEqual(recreated.metadata.uid, oldUid);
    }, { timeoutMs: 10_000 });

    // A router RoleBinding re-pointed by hand at another role: roleRef cannot be patched, so the
    // operator replaces the binding.
    // The operator is paused meanwhile (SIGSTOP), or it would win the race to recreate the binding.
    const binding = getJson(['-n', ns, 'get', 'rolebinding', 'gc-me-router']);
    const { uid: _uid, resourceVersion: _rv, creationTimestamp: _ct, managedFields: _mf, ...metadata } = binding.metadata;
    process.kill(operator.child.pid!, 'SIGSTOP');
    try {
      kubectl(['-n', ns, 'delete', 'rolebinding', 'gc-me-router', '--wait=true']);
      kubectl(['-n', ns, 'create', '-f', '-'], JSON.stringify({ ...binding, metadata, roleRef: { ...binding.roleRef, name: 'view' } }));
    } finally {
      process.kill(operator.child.pid!, 'SIGCONT');
    }
    await eventually(() => {
      const replaced = getJson(['-n', ns, 'get', 'rolebinding', 'gc-me-router']);
      assert.equal(replaced.roleRef.name, 'inference-cascade-router');
    }, { timeoutMs: 15_000 });

    kubectl(['-n', ns, 'delete', 'inferencecascade', 'gc-me', '--wait=true']);
    await eventually(() => {
      const left = getJson(['-n', ns, 'get', 'deployments,services,configmaps,replicasets,pods', '-l', 'cascade.inference.dev/cascade=gc-me']).items;
      assert.deepEqual(left.map((o: any) => `${o.kind}/${o.metadata.name}`), []);
    }, { timeoutMs: 60_000 });
  });

  it('mounts spec.modelVolume (a bound PVC) read-only at /models in every pod, admitted under Pod Security "restricted", without rewrites', async () => {
    const ns = freshNamespace('volume', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    const pv = `models-${ns}`;
    kubectl(['apply', '-f', '-'], toYaml(
      { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: pv }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadOnlyMany'], storageClassName: 'manual', hostPath: { path: '/srv/models' }, claimRef: { namespace: ns, name: 'models' } } },
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'models', namespace: ns }, spec: { accessModes: ['ReadOnlyMany'], storageClassName: 'manual', volumeName: pv, resources: { requests: { storage: '1Gi' } } } },
    ));
    try {
      kubectl(['apply', '-f', '-'], toYaml(sampleCascade('mounted', ns, (spec) => { spec.modelVolume = { persistentVolumeClaim: { claimName: 'models', readOnly: true } }; })));
      // Ready means every pod was admitted (restricted allows PVC volumes), scheduled with its claim bound, and run.
      await eventually(() => assert.equal(readyCondition(ns, 'mounted'), 'True'), { timeoutMs: 60_000 });
      for (const name of [...VARIANTS.map((v) => `mounted-${v}`), 'mounted-router']) {
        const pod = getJson(['-n', ns, 'get', 'deployment', name]).spec.template.spec;
        assert.deepEqual(pod.volumes.find((v: { name: string }) => v.name === 'models'), { name: 'models', persistentVolumeClaim: { claimName: 'models', readOnly: true } }, name);
        assert.deepEqual(pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'models'), { name: 'models', mountPath: '/models', readOnly: true }, name);
      }
      // The API server's defaults on the volume must not look like drift: a resync later nothing was written.
      await sleep(1000);
      const before = resourceVersions(ns);
      const since = new Date();
      await sleep((RESYNC_SECONDS + 2) * 1000);
      assert.deepEqual(resourceVersions(ns), before);
      assert.deepEqual(writesBy({ user: OPERATOR_USER, since, namespace: ns, excludeResources: ['leases'] }).map((w) => `${w.verb} ${w.requestURI}`), []);
    } finally {
      kubectl(['delete', 'persistentvolume', pv, '--wait=false']);
    }
  });

  it('makes no writes in steady state, through forced resyncs (30 s, counted in the API server audit log)', async () => {
    const ns = freshNamespace('steady');
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('steady', ns), sampleCascade('steady-two', ns)));
    await eventually(() => {
      assert.equal(readyCondition(ns, 'steady'), 'True');
      assert.equal(readyCondition(ns, 'steady-two'), 'True');
    }, { timeoutMs: 60_000 });
    await sleep(2000);
    const before = resourceVersions(ns);
    const since = new Date();
    const logsBefore = operator.logs.length;
    await consistently(() => assert.deepEqual(resourceVersions(ns), before), { timeoutMs: 30_000, intervalMs: 5000 });
    const writes = writesBy({ user: OPERATOR_USER, since, excludeResources: ['leases'] });
    assert.deepEqual(writes.map((w) => `${w.verb} ${w.requestURI}`), []);
    // The window spans at least two periodic resyncs, each a full reconcile pass of both cascades
    // (nothing else enqueues them here), and none of those passes wrote anything.
    const passes = (name: string) => operator.logs.slice(logsBefore)
      .filter((e) => e.message === 'reconciled' && e.cascade === `${ns}/${name}` && e.result === 'done').length;
    for (const name of ['steady', 'steady-two']) {
      assert.ok(passes(name) >= Math.floor(30 / RESYNC_SECONDS) - 1, `${name} was reconciled ${passes(name)} times in the window`);
    }
    process.stderr.write(`      ${passes('steady')} + ${passes('steady-two')} reconcile passes in the 30 s window, 0 writes\n`);
    // The test must be able to see writes: a spec change in the same window would show up.
    const sinceChange = new Date();
    kubectl(['-n', ns, 'patch', 'inferencecascade', 'steady', '--type=merge', '-p', '{"spec":{"router":{"replicas":3}}}']);
    await eventually(() => assert.ok(writesBy({ user: OPERATOR_USER, since: sinceChange, namespace: ns, verbs: ['patch'] }).length > 0));
  });
});
