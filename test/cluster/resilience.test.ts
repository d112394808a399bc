// Faults the operator must survive on the real control plane: being killed mid-reconcile, running
// as two replicas, an API server restart, SIGTERM. Who wrote what is read from the API server's
// audit log, not from the operator's own account.
import assert from 'node:assert/strict';
import { restartComponent } from '../../scripts/cluster/controlplane.js';
import { serviceAccountUser, writesBy } from '../support/audit.js';
import { sampleCascade, toYaml } from '../support/cascades.js';
import {
  ensureCluster, freshNamespace, getJson, kubectl, OPERATOR_NAMESPACE, OPERATOR_SA, serviceAccountKubeconfig,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { metricValue, startOperator, type OperatorProcess } from '../support/operator.js';

const LEASE_SECONDS = 4;
const SECOND_SA = 'inference-cascade-operator-b';

function readyCount(ns: string): number {
  const items = getJson(['-n', ns, 'get', 'inferencecascades']).items;
  return items.filter((c: any) => c.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True')).length;
}

async function leaderOf(...operators: OperatorProcess[]): Promise<OperatorProcess[]> {
  const flags = await Promise.all(operators.map(async (o) => (o.child.exitCode === null ? metricValue(await o.metrics(), 'inference_cascade_operator_leader') : 0)));
  return operators.filter((_, i) => flags[i] === 1);
}

/** A second ServiceAccount bound to the shipped roles, so the audit log tells the replicas apart. */
function secondServiceAccount(): string {
  kubectl(['apply', '-f', '-'], toYaml(
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SECOND_SA, namespace: OPERATOR_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: SECOND_SA },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'inference-cascade-operator' },
      subjects: [{ kind: 'ServiceAccount', name: SECOND_SA, namespace: OPERATOR_NAMESPACE }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: SECOND_SA, namespace: OPERATOR_NAMESPACE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'inference-cascade-operator-leader-election' },
      subjects: [{ kind: 'ServiceAccount', name: SECOND_SA, namespace: OPERATOR_NAMESPACE }],
    },
  ));
  return serviceAccountKubeconfig(SECOND_SA);
}

describe('operator resilience on the local control plane', function () {
  this.timeout(600_000);
  const running: OperatorProcess[] = [];
  const start = async (kubeconfig: string, identity: string, leaseDurationSeconds = LEASE_SECONDS): Promise<OperatorProcess> => {
    const op = await startOperator({ kubeconfig, identity, leaseDurationSeconds });
    running.push(op);
    return op;
  };

  before(async () => {
    await ensureCluster();
  });

  let restoreDependents = false;
  afterEach(async () => {
    await Promise.all(running.splice(0).map((o) => o.kill()));
    // After their API server is SIGKILLed, this kube-controller-manager and kube-scheduler stop
    // acting on new objects for minutes; restart them so later tests get a working cluster.
    if (restoreDependents) {
      restoreDependents = false;
      for (const component of ['kube-controller-manager', 'kube-scheduler', 'kwok'] as const) await restartComponent(component);
    }
  });

  it('killed mid-reconcile of 50 cascades, a restarted operator converges with no duplicates', async () => {
    const ns = freshNamespace('kill');
    const user = serviceAccountUser(OPERATOR_NAMESPACE, OPERATOR_SA);
    kubectl(['apply', '-f', '-'], toYaml(...Array.from({ length: 50 }, (_, i) => sampleCascade(`c${i}`, ns))));
    const since = new Date();
    const first = await start(serviceAccountKubeconfig(), 'killed-mid-reconcile');
    // 50 cascades take about 600 writes: kill the operator a fraction of the way in.
    await eventually(() => assert.ok(writesBy({ user, since, namespace: ns }).length >= 120), { timeoutMs: 120_000, intervalMs: 100 });
    await first.kill();
    const deploymentsAtKill = getJson(['-n', ns, 'get', 'deployments']).items.length;
    assert.ok(deploymentsAtKill < 250, `the kill came too late to be mid-reconcile (${deploymentsAtKill} of 250 Deployments)`);

    await start(serviceAccountKubeconfig(), 'restarted');
    await eventually(() => assert.equal(readyCount(ns), 50), { timeoutMs: 240_000, intervalMs: 1000 });

    const children = getJson(['-n', ns, 'get', 'deployments,services,configmaps,serviceaccounts,rolebindings', '-l', 'app.kubernetes.io/managed-by=inference-cascade-operator']).items;
    const perKind = (kind: string) => children.filter((c: any) => c.kind === kind).length;
    assert.deepEqual(
      { Deployment: perKind('Deployment'), Service: perKind('Service'), ConfigMap: perKind('ConfigMap'), ServiceAccount: perKind('ServiceAccount'), RoleBinding: perKind('RoleBinding') },
      { Deployment: 250, Service: 250, ConfigMap: 50, ServiceAccount: 50, RoleBinding: 50 },
    );
    for (let i = 0; i < 50; i++) {
      const mine = children.filter((c: any) => c.metadata.labels['cascade.inference.dev/cascade'] === `c${i}`);
      assert.equal(mine.length, 13, `cascade c${i} has ${mine.length} children`);
      assert.ok(mine.every((c: any) => c.metadata.ownerReferences?.length === 1), `c${i}: every child has exactly one owner`);
    }
    // A duplicated rollout would show as a second ReplicaSet for some Deployment.
    const replicaSets = getJson(['-n', ns, 'get', 'replicasets']).items;
    assert.equal(replicaSets.length, 250);
    process.stderr.write(`      killed with ${deploymentsAtKill}/250 Deployments created; converged after restart\n`);
  });

  it('with two replicas only the Lease holder writes, and a killed leader hands over within the lease duration', async () => {
    const ns = freshNamespace('ha');
    const a = await start(serviceAccountKubeconfig(), 'replica-a');
    const b = await start(secondServiceAccount(), 'replica-b');
    const leaders = await eventually(async () => {
      const found = await leaderOf(a, b);
      assert.equal(found.length, 1);
      return found;
    }, { timeoutMs: 15_000 });
    const leader = leaders[0]!;
    const follower = leader === a ? b : a;
    const userOf = (o: OperatorProcess) => serviceAccountUser(OPERATOR_NAMESPACE, o === a ? OPERATOR_SA : SECOND_SA);

    const since = new Date();
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('ha-one', ns), sampleCascade('ha-two', ns)));
    await eventually(() => assert.equal(readyCount(ns), 2), { timeoutMs: 60_000 });
    assert.ok(writesBy({ user: userOf(leader), since, namespace: ns }).length >= 22, 'the leader created the children');
    assert.deepEqual(writesBy({ user: userOf(follower), since, excludeResources: ['leases'] }).map((w) => w.requestURI), [], 'the follower wrote nothing');

    await leader.kill();
    const killedAt = Date.now();
    await eventually(async () => assert.deepEqual(await leaderOf(follower), [follower]), { timeoutMs: 15_000, intervalMs: 100 });
    const handoverMs = Date.now() - killedAt;
    // Lease duration plus one retry period and the polling interval.
    assert.ok(handoverMs <= LEASE_SECONDS * 1000 + 1200, `handover took ${handoverMs} ms`);

    kubectl(['-n', ns, 'patch', 'inferencecascade', 'ha-one', '--type=json', '-p', '[{"op":"replace","path":"/spec/variants/1/replicas","value":2}]']);
    await eventually(() => assert.equal(getJson(['-n', ns, 'get', 'deployment', 'ha-one-pruned']).spec.replicas, 2), { timeoutMs: 20_000 });
    await eventually(() => assert.equal(readyCount(ns), 2), { timeoutMs: 60_000 });
    process.stderr.write(`      handover ${handoverMs} ms after SIGKILL (lease ${LEASE_SECONDS} s)\n`);
  });

  it('a leader killed while reconciling 30 cascades hands over, and no cascade is left half-reconciled', async () => {
    const ns = freshNamespace('handover');
    const a = await start(serviceAccountKubeconfig(), 'handover-a');
    const b = await start(secondServiceAccount(), 'handover-b');
    const [leader] = await eventually(async () => {
      const found = await leaderOf(a, b);
      assert.equal(found.length, 1);
      return found;
    }, { timeoutMs: 30_000 });
    const follower = leader === a ? b : a;
    const userOf = (o: OperatorProcess) => serviceAccountUser(OPERATOR_NAMESPACE, o === a ? OPERATOR_SA : SECOND_SA);

    const since = new Date();
    kubectl(['apply', '-f', '-'], toYaml(...Array.from({ length: 30 }, (_, i) => sampleCascade(`h${i}`, ns))));
    // 30 cascades take about 360 writes: kill the leader a fraction of the way in.
    await eventually(() => assert.ok(writesBy({ user: userOf(leader!), since, namespace: ns }).length >= 30), { timeoutMs: 120_000, intervalMs: 100 });
    await leader!.kill();
    const killedAt = Date.now();
    const deploymentsAtKill = getJson(['-n', ns, 'get', 'deployments']).items.length;
    const readyAtKill = readyCount(ns);
    assert.ok(deploymentsAtKill > 0 && deploymentsAtKill < 150, `the kill came mid-reconcile (${deploymentsAtKill} of 150 Deployments)`);

    await eventually(async () => assert.deepEqual(await leaderOf(follower), [follower]), { timeoutMs: 15_000, intervalMs: 100 });
    const handoverMs = Date.now() - killedAt;
    assert.ok(handoverMs <= LEASE_SECONDS * 1000 + 1200, `handover took ${handoverMs} ms`);
    const followerWrites = writesBy({ user: userOf(follower), since, namespace: ns });
    assert.ok(followerWrites.every((w) => new Date(w.stageTimestamp).getTime() >= killedAt), 'the follower wrote nothing while the other replica led');

    await eventually(() => assert.equal(readyCount(ns), 30), { timeoutMs: 240_000, intervalMs: 1000 });
    // Every cascade is whole: all eleven children, each owned by that cascade alone, and a status
    // computed from the current generation with every condition.
    const cascades = getJson(['-n', ns, 'get', 'inferencecascades']).items;
    const children = getJson(['-n', ns, 'get', 'deployments,services,configmaps', '-l', 'app.kubernetes.io/managed-by=inference-cascade-operator']).items;
    for (const cascade of cascades) {
      const name = cascade.metadata.name;
      const mine = children.filter((c: any) => c.metadata.labels['cascade.inference.dev/cascade'] === name);
      assert.deepEqual(
        { Deployment: mine.filter((c: any) => c.kind === 'Deployment').length, Service: mine.filter((c: any) => c.kind === 'Service').length, ConfigMap: mine.filter((c: any) => c.kind === 'ConfigMap').length },
        { Deployment: 5, Service: 5, ConfigMap: 1 }, `children of ${name}`);
      for (const child of mine) {
        assert.deepEqual(child.metadata.ownerReferences.map((r: any) => [r.uid, r.controller]), [[cascade.metadata.uid, true]], `owner of ${child.kind} ${child.metadata.name}`);
      }
      assert.equal(cascade.status.observedGeneration, cascade.metadata.generation, `${name} observedGeneration`);
      assert.equal(cascade.status.variantsReady, '4/4', `${name} variantsReady`);
      assert.deepEqual(cascade.status.conditions.map((c: any) => c.type).sort(), ['CacheDegraded', 'Ready', 'RouterAvailable', 'VariantsAvailable']);
    }
    assert.equal(getJson(['-n', ns, 'get', 'replicasets']).items.length, 150, 'one ReplicaSet per Deployment: no duplicated rollout');
    const takenOver = writesBy({ user: userOf(follower), since, namespace: ns }).length;
    assert.ok(takenOver > 0, 'the new leader finished the work');
    process.stderr.write(`      killed with ${deploymentsAtKill}/150 Deployments and ${readyAtKill}/30 cascades Ready; handover ${handoverMs} ms; the new leader made ${takenOver} writes\n`);
  });

  it('survives an API server restart: watches resume and later changes are reconciled', async () => {
    const ns = freshNamespace('apirestart');
    // The default 15 s lease (10 s renew deadline) outlasts the restart; with a shorter one the
    // operator would step down and exit, as client-go operators do, and be restarted by its Deployment.
    const op = await start(serviceAccountKubeconfig(), 'apiserver-restart', 15);
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('survivor', ns)));
    await eventually(() => assert.equal(readyCount(ns), 1), { timeoutMs: 60_000 });

    const restartStarted = Date.now();
    await restartComponent('kube-apiserver', { crash: true, downtimeMs: 1000 });
    restoreDependents = true;
    process.stderr.write(`      kube-apiserver killed and back in ${Date.now() - restartStarted} ms\n`);
    kubectl(['-n', ns, 'patch', 'inferencecascade', 'survivor', '--type=json', '-p', '[{"op":"replace","path":"/spec/variants/2/replicas","value":2}]']);
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('newcomer', ns)));
    // What the operator owns: the change and the new cascade reach the children, and status
    // follows the generation. (Pod readiness also needs kube-scheduler, which here stalls for a
    // while after its API server is killed; that is not the operator's to fix.)
    await eventually(() => {
      assert.equal(getJson(['-n', ns, 'get', 'deployment', 'survivor-distilled']).spec.replicas, 2);
      const children = getJson(['-n', ns, 'get', 'deployments,services,configmaps,serviceaccounts,rolebindings', '-l', 'cascade.inference.dev/cascade=newcomer']).items;
      assert.equal(children.length, 13);
      for (const name of ['survivor', 'newcomer']) {
        const cascade = getJson(['-n', ns, 'get', 'inferencecascade', name]);
        assert.equal(cascade.status?.observedGeneration, cascade.metadata.generation);
      }
    }, { timeoutMs: 60_000, intervalMs: 500 });
    assert.equal(op.child.exitCode, null, 'the operator kept running');
    assert.ok(metricValue(await op.metrics(), 'inference_cascade_operator_informer_restarts_total') >= 1, 'informers were restarted');
  });

  it('exits cleanly on SIGTERM and releases its Lease', async () => {
    const op = await start(serviceAccountKubeconfig(), 'sigterm');
    await eventually(async () => assert.equal(metricValue(await op.metrics(), 'inference_cascade_operator_leader'), 1), { timeoutMs: 15_000 });
    const health = await fetch(`http://127.0.0.1:${op.probePort}/healthz`);
    const ready = await fetch(`http://127.0.0.1:${op.probePort}/readyz`);
    assert.deepEqual([health.status, ready.status], [200, 200]);
    const metrics = await op.metrics();
    for (const name of ['inference_cascade_operator_reconcile_total', 'inference_cascade_operator_reconcile_duration_seconds_bucket', 'inference_cascade_operator_workqueue_depth', 'inference_cascade_operator_reconcile_errors_total']) {
      assert.ok(metrics.includes(name), `${name} is exported`);
    }
    const code = await op.stop();
    assert.equal(code, 0);
    const lease = getJson(['-n', OPERATOR_NAMESPACE, 'get', 'lease', 'inference-cascade-operator']);
    assert.ok(!lease.spec.holderIdentity, `lease released, holder is "${lease.spec.holderIdentity}"`);
  });
});
