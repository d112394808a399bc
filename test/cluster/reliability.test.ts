// Reliability properties of the operator on the real local control plane (issue 8): watches that
// break or expire, conflicting writes, a reconcile that keeps failing, the first status a new
// cascade gets, and children that pass the restricted Pod Security profile.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api, CustomObjectsApi, type KubernetesListObject, type KubernetesObject, type V1ConfigMap,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type CascadeStatus, type InferenceCascade } from '../../crds/types.js';
import { CascadeController } from '../../operator/controller.js';
import { defaultBuildOptions, desiredChildren, FIELD_MANAGER } from '../../operator/desired/index.js';
import { KubeEventRecorder } from '../../operator/events.js';
import { ResilientInformer, type InformerEvent } from '../../operator/informer.js';
import { createClients, loadKubeConfig } from '../../operator/kube.js';
import { createOperatorMetrics } from '../../operator/metrics.js';
import { serviceAccountUser, writesBy, type AuditEvent } from '../support/audit.js';
import { sampleCascade, toYaml, type Json } from '../support/cascades.js';
import {
  apiServerUrl, ensureCluster, freshNamespace, getJson, KUBECONFIG, kubectl, kubectlError, kubectlFull, OPERATOR_NAMESPACE, OPERATOR_SA,
  serviceAccountKubeconfig,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { captureLogger } from '../support/logs.js';
import { metricValue, startOperator, type OperatorProcess } from '../support/operator.js';

const OPERATOR_USER = serviceAccountUser(OPERATOR_NAMESPACE, OPERATOR_SA);
type Cascade = InferenceCascade & KubernetesObject;

function readyCondition(status: CascadeStatus | undefined) {
  return status?.conditions?.find((c) => c.type === 'Ready');
}

function storedCascade(ns: string, name: string): Cascade {
  return getJson<Cascade>(['-n', ns, 'get', 'inferencecascade', name]);
}

interface SeenEvent {
  event: InformerEvent;
  name: string;
  resourceVersion: string;
  data: Record<string, string> | undefined;
  at: number;
}

/** name -> resourceVersion of what the server holds, read with kubectl. */
function serverConfigMaps(ns: string): Record<string, string> {
  const items = getJson(['-n', ns, 'get', 'configmaps']).items as V1ConfigMap[];
  return Object.fromEntries(items.map((c) => [c.metadata!.name!, c.metadata!.resourceVersion!]));
}

describe('operator reliability on the local control plane', function () {
  this.timeout(600_000);

  before(async () => {
    await ensureCluster();
  });

  describe('ResilientInformer behind a fault-injecting proxy', () => {
    let proxy: FaultProxy;
    let informer: ResilientInformer<V1ConfigMap> | undefined;

    beforeEach(async () => {
      proxy = await startFaultProxy(apiServerUrl());
    });

    afterEach(async () => {
      await informer?.stop();
      informer = undefined;
      await proxy.close();
    });

    /** An informer on one namespace's ConfigMaps, as the operator's ServiceAccount, through the proxy. */
    async function startInformer(ns: string) {
      const kubeConfig = loadKubeConfig(proxy.kubeconfig(serviceAccountKubeconfig()));
      const core = kubeConfig.makeApiClient(CoreV1Api);
      const { logger, entries } = captureLogger();
      const seen: SeenEvent[] = [];
      informer = new ResilientInformer<V1ConfigMap>({
        resource: 'configmaps', kubeConfig, path: `/api/v1/namespaces/${ns}/configmaps`, logger,
        list: () => core.listNamespacedConfigMap({ namespace: ns }),
        onEvent: (event, obj) => seen.push({ event, name: obj.metadata!.name!, resourceVersion: obj.metadata!.resourceVersion!, data: obj.data, at: Date.now() }),
      });
      await informer.start();
      await eventually(() => assert.equal(proxy.openWatches(), 1, 'the informer watches'));
      const cached = (): Record<string, string> =>
        Object.fromEntries(informer!.list().map((c) => [c.metadata!.name!, c.metadata!.resourceVersion!]));
      const restarts = () => entries.filter((e) => e.message === 'informer stopped, restarting');
      return { seen, cached, restarts };
    }

    const configMap = (ns: string, name: string, value: string): string =>
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { value } });

    it('a dropped watch restarts with growing backoff, resumes from its resourceVersion and misses no update', async () => {
      const ns = freshNamespace('informer-drop');
      for (const name of ['a', 'b']) kubectl(['apply', '-f', '-'], configMap(ns, name, '1'));
      const { seen, cached, restarts } = await startInformer(ns);
      assert.deepEqual(cached(), serverConfigMaps(ns));
      const listsBefore = proxy.requests.filter((r) => !r.watch).length;

      // The network fails and, for a while, the API server refuses new watches.
      proxy.watchFault = 'refuse';
      assert.equal(proxy.dropWatches(), 1);
      const outageStart = Date.now();
      kubectl(['apply', '-f', '-'], configMap(ns, 'c', '1'));
      kubectl(['apply', '-f', '-'], configMap(ns, 'a', '2'));
      kubectl(['-n', ns, 'delete', 'configmap', 'b']);
      await sleep(5000);
      assert.equal(informer!.get('c', ns), undefined, 'the cache cannot have seen c while every watch is refused');
      assert.ok(cached().b, 'nor the deletion of b');

      proxy.watchFault = 'none';
      const healedAt = Date.now();
      await eventually(() => assert.deepEqual(cached(), serverConfigMaps(ns)), { timeoutMs: 30_000 });
      const caughtUpMs = Date.now() - healedAt;

      const after = seen.filter((s) => s.at >= outageStart);
      assert.ok(after.some((s) => s.event === 'add' && s.name === 'c'), `add c in ${JSON.stringify(after)}`);
      assert.ok(after.some((s) => s.event === 'update' && s.name === 'a' && s.data?.value === '2'), `update a in ${JSON.stringify(after)}`);
      assert.ok(after.some((s) => s.event === 'delete' && s.name === 'b'), `delete b in ${JSON.stringify(after)}`);

      // Backoff: each failed restart waits longer than the one before (base 500 ms, doubling,
      // jitter +-20 %), so five seconds of refusals cost a handful of watch attempts, not a loop.
      const attempts = restarts().map((e) => ({ attempt: e.attempt as number, delayMs: e.delayMs as number }));
      assert.ok(attempts.length >= 3, `restart attempts: ${JSON.stringify(attempts)}`);
      assert.deepEqual(attempts.map((a) => a.attempt), attempts.map((_, i) => i + 1));
      for (let i = 1; i < attempts.length; i++) assert.ok(attempts[i]!.delayMs > attempts[i - 1]!.delayMs, `delays grow: ${JSON.stringify(attempts)}`);
      const refused = proxy.requests.filter((r) => r.watch && r.injected && r.at >= outageStart);
      assert.ok(refused.length >= 2 && refused.length <= 6, `${refused.length} watch attempts during the outage`);
      // The restarted watch resumed from the last resourceVersion: no relist was needed.
      assert.equal(proxy.requests.filter((r) => !r.watch).length, listsBefore, 'no list request after the first');
      process.stderr.write(`      restarts ${JSON.stringify(attempts)}; caught up ${caughtUpMs} ms after the watch came back\n`);
    });

    it('a 410 Gone on the watch relists, reports what was deleted meanwhile, and the cache matches the server', async () => {
      const ns = freshNamespace('informer-gone');
      for (const name of ['a', 'b', 'c']) kubectl(['apply', '-f', '-'], configMap(ns, name, '1'));
      const { seen, cached } = await startInformer(ns);
      const listsBefore = proxy.requests.filter((r) => !r.watch).length;

      proxy.watchFault = 'refuse';
      assert.equal(proxy.dropWatches(), 1);
      const outageStart = Date.now();
      kubectl(['apply', '-f', '-'], configMap(ns, 'd', '1'));
      kubectl(['apply', '-f', '-'], configMap(ns, 'a', '2'));
      kubectl(['-n', ns, 'delete', 'configmap', 'c']);
      await sleep(1500);
      // The next watch is told its resourceVersion is too old.
      proxy.goneCount = 1;
      proxy.watchFault = 'gone';
      await eventually(() => assert.deepEqual(cached(), serverConfigMaps(ns)), { timeoutMs: 30_000 });

      const gone = proxy.requests.find((r) => r.watch && r.injected && r.status === 200);
      assert.ok(gone, 'the proxy answered a watch with 410 Gone');
      const relists = proxy.requests.filter((r) => !r.watch && r.at >= gone.at);
      assert.equal(relists.length, 1, 'one relist after the 410');
      assert.equal(proxy.requests.filter((r) => !r.watch).length, listsBefore + 1);
      await eventually(() => assert.equal(proxy.openWatches(), 1, 'watching again after the relist'));

      const after = seen.filter((s) => s.at >= outageStart);
      assert.ok(after.some((s) => s.event === 'delete' && s.name === 'c'), `the relist reports c deleted: ${JSON.stringify(after)}`);
      assert.ok(after.some((s) => s.event === 'add' && s.name === 'd'), `add d in ${JSON.stringify(after)}`);
      assert.ok(after.some((s) => s.event === 'update' && s.name === 'a' && s.data?.value === '2'), `update a in ${JSON.stringify(after)}`);

      // The watch that follows the relist carries later changes too.
      kubectl(['apply', '-f', '-'], configMap(ns, 'e', '1'));
      await eventually(() => assert.deepEqual(cached(), serverConfigMaps(ns)), { timeoutMs: 10_000 });
    });
  });

  describe('with the operator running', () => {
    let operator: OperatorProcess;

    before(async () => {
      operator = await startOperator({ kubeconfig: serviceAccountKubeconfig(), identity: 'reliability', leaseDurationSeconds: 15 });
      // A replica killed by an earlier test may still hold the Lease for up to its duration.
      await eventually(async () => assert.equal(metricValue(await operator.metrics(), 'inference_cascade_operator_leader'), 1), { timeoutMs: 60_000, intervalMs: 500 });
    });

    after(async () => {
      await operator?.stop();
    });

    const cleanups: (() => void)[] = [];
    afterEach(() => {
      for (const cleanup of cleanups.splice(0)) cleanup();
    });

    it('the first status of a new cascade is Ready=Unknown, and observedGeneration follows every spec change', async () => {
      const ns = freshNamespace('first-visit');
      // Watch the cascade from before it exists, as the admin: every version the server stores is seen.
      const kubeConfig = loadKubeConfig(KUBECONFIG);
      const custom = kubeConfig.makeApiClient(CustomObjectsApi);
      const seen: { generation: number; status: CascadeStatus | undefined }[] = [];
      const observer = new ResilientInformer<Cascade>({
        resource: 'inferencecascades', kubeConfig, path: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`, logger: captureLogger('warn').logger,
        list: async () => (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL })) as KubernetesListObject<Cascade>,
        onEvent: (_event, obj) => seen.push({ generation: obj.metadata.generation!, status: structuredClone(obj.status) }),
      });
      await observer.start();
      try {
        kubectl(['apply', '-f', '-'], toYaml(sampleCascade('first-visit', ns)));
        await eventually(() => assert.equal(readyCondition(storedCascade(ns, 'first-visit').status)?.status, 'True'), { timeoutMs: 60_000 });

        assert.equal(seen[0]?.status, undefined, 'the cascade is created without status');
        const first = seen.find((s) => s.status)?.status;
        assert.ok(first, 'the operator wrote a status');
        assert.equal(first.observedGeneration, 1);
        assert.deepEqual({ status: readyCondition(first)?.status, reason: readyCondition(first)?.reason }, { status: 'Unknown', reason: 'Progressing' },
          `first status: ${JSON.stringify(first)}`);

        kubectl(['-n', ns, 'patch', 'inferencecascade', 'first-visit', '--type=json', '-p', '[{"op":"replace","path":"/spec/variants/0/replicas","value":3}]']);
        await eventually(() => {
          const cascade = storedCascade(ns, 'first-visit');
          assert.equal(cascade.metadata.generation, 2);
          assert.equal(cascade.status?.observedGeneration, 2);
          assert.equal(readyCondition(cascade.status)?.status, 'True');
          assert.equal(cascade.status?.variants?.find((v) => v.role === 'quantized')?.readyReplicas, 3);
        }, { timeoutMs: 60_000 });
        await sleep(500);

        // The spec change itself is seen with the old observedGeneration; every status written
        // after it carries the new one.
        const afterChange = seen.filter((s) => s.generation === 2);
        assert.equal(afterChange[0]?.status?.observedGeneration, 1);
        assert.ok(afterChange.length >= 2, 'a status was written after the spec change');
        assert.deepEqual(afterChange.slice(1).map((s) => s.status?.observedGeneration), afterChange.slice(1).map(() => 2));
        let previous = 0;
        for (const { generation, status } of seen.filter((s) => s.status)) {
          const observed = status!.observedGeneration!;
          assert.ok(observed >= previous && observed <= generation, `observedGeneration ${observed} after ${previous}, generation ${generation}`);
          previous = observed;
          for (const c of status!.conditions ?? []) assert.equal(c.observedGeneration, observed, `${c.type}.observedGeneration`);
        }
        process.stderr.write(`      ${seen.length} versions seen; first status Ready=${readyCondition(first)?.status}\n`);
      } finally {
        await observer.stop();
      }
    });

    it('a reconcile that keeps failing backs off exponentially: bounded API calls, growing gaps', async () => {
      const ns = freshNamespace('backoff');
      // Deployments are refused in this namespace: every pass fails the same way, for good.
      kubectl(['apply', '-f', '-'], toYaml({
        apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-deployments', namespace: ns },
        spec: { hard: { 'count/deployments.apps': '0' } },
      }));
      // Until kube-controller-manager has computed the quota's usage, admission refuses with a
      // different message; wait, so that every attempt fails identically.
      await eventually(() => assert.ok(getJson(['-n', ns, 'get', 'resourcequota', 'no-deployments']).status?.hard), { timeoutMs: 30_000 });
      const since = new Date();
      kubectl(['apply', '-f', '-'], toYaml(sampleCascade('failing', ns)));
      // A cascade that fails for good would keep the operator of a later test busy.
      cleanups.push(() => kubectlError(['-n', ns, 'delete', 'inferencecascade', 'failing', '--wait=false']));
      const first = await eventually(() => {
        const writes = writesBy({ user: OPERATOR_USER, since, namespace: ns });
        assert.ok(writes.length > 0);
        return new Date(writes[0]!.stageTimestamp);
      }, { timeoutMs: 30_000 });
      const WINDOW_MS = 20_000;
      await sleep(first.getTime() + WINDOW_MS + 1000 - Date.now());
      const until = new Date(first.getTime() + WINDOW_MS);
      const writes = writesBy({ user: OPERATOR_USER, since: first, until, namespace: ns });

      const status = storedCascade(ns, 'failing').status;
      assert.equal(readyCondition(status)?.reason, 'ApplyFailed');
      assert.match(readyCondition(status)!.message, /exceeded quota: no-deployments/);

      // Each pass applies the full-precision Deployment once: its apply calls are the attempts.
      const attempts = writes.filter((w) => w.objectRef?.resource === 'deployments' && w.objectRef.name === 'failing-full');
      assert.ok(attempts.every((w) => w.responseStatus?.code === 403), `codes ${attempts.map((w) => w.responseStatus?.code)}`);
      const at = attempts.map((w) => new Date(w.stageTimestamp).getTime());
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      // The work queue's per-key backoff starts at 5 ms and doubles: k failures take at least
      // 5 * (2^k - 1) ms, so 20 s hold at most 12 of them, plus a few passes the watch events of
      // the pass's own writes (the Services, the ConfigMap, the status) trigger at once.
      assert.ok(attempts.length >= 6, `${attempts.length} attempts in ${WINDOW_MS} ms: it does retry`);
      assert.ok(attempts.length <= 16, `${attempts.length} attempts in ${WINDOW_MS} ms; gaps ${gaps}`);
      assert.ok(writes.length <= 16 * 5 + 20, `${writes.length} writes in ${WINDOW_MS} ms`);
      // Once the backoff outweighs a pass's own duration (which load can stretch to a few hundred
      // ms), every gap is about twice the one before.
      const long = gaps.filter((g) => g >= 600);
      assert.ok(long.length >= 3, `gaps ${gaps}`);
      for (let i = 1; i < long.length; i++) assert.ok(long[i]! >= 1.4 * long[i - 1]!, `gaps grow: ${gaps}`);
      assert.ok(long.at(-1)! >= 4000, `the last gap is seconds long: ${gaps}`);
      // Nothing else is rewritten on every pass: one status write, one Warning event.
      const byResource = (r: string, sub?: string) => writes.filter((w: AuditEvent) => w.objectRef?.resource === r && w.objectRef.subresource === sub).length;
      assert.ok(byResource('inferencecascades', 'status') <= 2, `${byResource('inferencecascades', 'status')} status writes`);
      assert.ok(byResource('events') <= 3, `${byResource('events')} events`);
      process.stderr.write(`      ${attempts.length} attempts and ${writes.length} writes in ${WINDOW_MS / 1000} s; gaps ms ${gaps.join(' ')}\n`);
    });
  });

  it('a status write with a stale resourceVersion gets 409, is requeued and converges', async () => {
    const ns = freshNamespace('conflict');
    const clients = createClients(loadKubeConfig(serviceAccountKubeconfig()));
    const replaceStatus = clients.custom.replaceNamespacedCustomObjectStatus.bind(clients.custom);
    let bumped = false;
    clients.custom.replaceNamespacedCustomObjectStatus = async (param, options) => {
      if (!bumped && param.namespace === ns) {
        bumped = true;
        // A concurrent writer changes the cascade between the operator's read (its cache) and its write.
        kubectl(['-n', ns, 'annotate', 'inferencecascade', param.name, 'test.cascade.inference.dev/bumped=yes']);
      }
      return replaceStatus(param, options);
    };
    const { logger, entries } = captureLogger();
    const metrics = createOperatorMetrics();
    // The operator's own controller, in this process, so the write can be intercepted.
    const controller = new CascadeController({
      clients, logger, build: defaultBuildOptions, metrics,
      events: new KubeEventRecorder(clients.core, 'inference-cascade-operator', 'in-process-test', logger),
      options: { workers: 2, resyncPeriodMs: 600_000, watchdogMs: 300_000 },
      canWrite: () => true,
    });
    const since = new Date();
    try {
      await controller.startInformers();
      controller.startWorkers();
      kubectl(['apply', '-f', '-'], toYaml(sampleCascade('conflicted', ns)));
      await eventually(() => {
        const cascade = storedCascade(ns, 'conflicted');
        assert.equal(cascade.status?.observedGeneration, cascade.metadata.generation);
        assert.equal(readyCondition(cascade.status)?.status, 'True');
        assert.equal(cascade.metadata.annotations?.['test.cascade.inference.dev/bumped'], 'yes', 'the other writer\'s change survives');
      }, { timeoutMs: 60_000 });
    } finally {
      await controller.stop();
    }
    assert.ok(bumped);
    const statusWrites = writesBy({ user: OPERATOR_USER, since, namespace: ns, verbs: ['update'] })
      .filter((w) => w.objectRef?.resource === 'inferencecascades' && w.objectRef.subresource === 'status');
    const codes = statusWrites.map((w) => w.responseStatus?.code);
    assert.equal(codes[0], 409, `status writes: ${codes}`);
    assert.ok(codes.slice(1).includes(200), `a later write succeeds: ${codes}`);
    assert.ok(entries.some((e) => e.message === 'status write conflicted, retrying with a fresher copy' && e.cascade === `${ns}/conflicted`), 'the conflict is logged');
    // The conflicted pass ended in a requeue (rate-limited), not in success or an error.
    assert.ok(entries.some((e) => e.message === 'reconciled' && e.cascade === `${ns}/conflicted` && e.result === 'requeue'), 'the key was requeued');
    assert.ok(metricValue(await metrics.registry.metrics(), 'inference_cascade_operator_reconcile_total', { result: 'requeue' }) >= 1);
    process.stderr.write(`      status write codes in order: ${codes.join(' ')}\n`);
  });

  it('never reports a new generation Ready while its Deployment watch lags (every status update, watched)', async () => {
    const ns = freshNamespace('lagging');
    // The operator's Deployment events arrive 3 s late, as from a slow watch cache: right after it
    // applies a new pod template, its cache still holds the previous, fully rolled out Deployments.
    const proxy = await startFaultProxy(apiServerUrl());
    proxy.delayWatches = { pathIncludes: '/deployments', ms: 3000 };
    const clients = createClients(loadKubeConfig(proxy.kubeconfig(serviceAccountKubeconfig())));
    const { logger } = captureLogger();
    const controller = new CascadeController({
      clients, logger, build: defaultBuildOptions, metrics: createOperatorMetrics(),
      events: new KubeEventRecorder(clients.core, 'inference-cascade-operator', 'in-process-test', logger),
      options: { workers: 2, resyncPeriodMs: 600_000, watchdogMs: 300_000 },
      canWrite: () => true,
    });
    let watch: ReturnType<typeof spawn> | undefined;
    let seen = '';
    try {
      await controller.startInformers();
      controller.startWorkers();
      kubectl(['apply', '-f', '-'], toYaml(sampleCascade('lagging', ns)));
      await eventually(() => assert.equal(readyCondition(storedCascade(ns, 'lagging').status)?.status, 'True'), { timeoutMs: 60_000 });
      // Every version of the cascade the server stores from here on: a watch misses no transient status.
      watch = spawn('kubectl', ['--kubeconfig', KUBECONFIG, '-n', ns, 'get', 'inferencecascade', 'lagging', '--watch', '-o',
        'jsonpath={.status.observedGeneration} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}{"\\n"}']);
      watch.stdout!.on('data', (chunk: Buffer) => { seen += chunk.toString(); });
      await eventually(() => assert.ok(seen.startsWith('1 True')), { timeoutMs: 10_000 });
      // New pods that can never start (their claim does not exist): generation 2 cannot roll out.
      kubectl(['-n', ns, 'patch', 'inferencecascade', 'lagging', '--type=merge', '-p', JSON.stringify({ spec: { modelVolume: { persistentVolumeClaim: { claimName: 'missing' } } } })]);
      await eventually(() => assert.equal(storedCascade(ns, 'lagging').status?.observedGeneration, 2), { timeoutMs: 20_000 });
      await sleep(5000); // past the watch delay: the Deployments' new generation has reached the cache
    } finally {
      watch?.kill();
      await controller.stop();
      await proxy.close();
    }
    const updates = seen.split('\n').filter((line) => line.startsWith('2 '));
    assert.ok(updates.length > 0, seen);
    assert.deepEqual(updates.filter((line) => line.startsWith('2 True')), [], `status updates of generation 2:\n${updates.join('\n')}`);
    assert.notEqual(readyCondition(storedCascade(ns, 'lagging').status)?.status, 'True');
    process.stderr.write(`      generation 2 status updates: ${updates.join(' | ')}\n`);
  });

  it('every child the operator renders for the sample passes server-side apply into a restricted namespace', async () => {
    const ns = freshNamespace('restricted', Object.fromEntries(['enforce', 'warn', 'audit'].flatMap((mode) => [
      [`pod-security.kubernetes.io/${mode}`, 'restricted'], [`pod-security.kubernetes.io/${mode}-version`, 'latest'],
    ])));
    // No operator runs here: the children below are the operator's rendering, applied by the test.
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('fraud-scorer', ns)));
    const cascade = storedCascade(ns, 'fraud-scorer');
    const children = desiredChildren(cascade, defaultBuildOptions) as Json[];
    const kinds = new Set(children.map((c) => c.kind));
    for (const kind of ['ConfigMap', 'Deployment', 'Service']) assert.ok(kinds.has(kind), `the operator renders a ${kind}`);
    for (const child of children) {
      const result = kubectlFull(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], JSON.stringify(child));
      const what = `${child.kind}/${child.metadata.name}`;
      assert.equal(result.status, 0, `${what} was refused: ${result.stderr}`);
      assert.equal(result.stderr, '', `${what} drew warnings`);
      assert.match(result.stdout, /serverside-applied/);
    }
    // The namespace does object: a Deployment without the restricted settings draws a warning.
    const control = structuredClone(children.find((c) => c.kind === 'Deployment')!);
    control.metadata = { name: 'control-unrestricted', namespace: ns };
    delete control.spec.template.spec.securityContext;
    delete control.spec.template.spec.containers[0].securityContext;
    const refused = kubectlFull(['apply', '--server-side', '--dry-run=server', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], JSON.stringify(control));
    assert.match(refused.stderr, /would violate PodSecurity "restricted:latest"/);

    // Enforcement happens when the ReplicaSets create pods: every one is admitted.
    await eventually(() => {
      for (const child of children.filter((c) => c.kind === 'Deployment')) {
        const deployment = getJson(['-n', ns, 'get', 'deployment', child.metadata.name]);
        assert.equal(deployment.status?.availableReplicas ?? 0, child.spec.replicas, `${child.metadata.name} available`);
      }
    }, { timeoutMs: 90_000, intervalMs: 1000 });
    const failed = getJson(['-n', ns, 'get', 'events', '--field-selector', 'reason=FailedCreate']).items;
    assert.deepEqual(failed.map((e: Json) => e.message), []);
  });
});
