// The router's cache agent reporting to the real API server: a router running as the
// ServiceAccount the operator created for it (bound to the shipped inference-cascade-router
// ClusterRole) records Events on the cascade and the cache-state annotation, and the operator
// turns that into CacheDegraded; and reads its variants' pod CPU from metrics.k8s.io (the real
// metrics-server scraping kwok, whose pods use what their kwok.x-k8s.io/usage-cpu annotation says).
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade, type LocalCascade } from '../../scripts/standalone/local-cascade.js';
import { drive } from '../../scripts/standalone/traffic.js';
import { sessionStream } from '../../training/data/sessions32.js';
import { sampleCascade, toYaml } from '../support/cascades.js';
import { ensureCluster, freshNamespace, getJson, kubectl, serviceAccountKubeconfig } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';

function cacheDegraded(ns: string): { status?: string; reason?: string } | undefined {
  const cascade = getJson(['-n', ns, 'get', 'inferencecascade', 'fraud-scorer']);
  return cascade.status?.conditions?.find((c: { type: string }) => c.type === 'CacheDegraded');
}

describe('router reporting its cache agent to the cluster', function () {
  this.timeout(300_000);
  let operator: OperatorProcess | undefined;
  let cascade: LocalCascade | undefined;
  let ns = '';

  before(async () => {
    await ensureCluster();
    operator = await startOperator({ kubeconfig: serviceAccountKubeconfig(), identity: 'operator-router-reporting' });
  });
  after(async () => {
    await cascade?.stop();
    await operator?.stop();
  });

  it('records Events and the cache state, which the operator shows as CacheDegraded', async () => {
    ns = freshNamespace('router-report');
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('fraud-scorer', ns)));
    // The operator gives the router its ServiceAccount and binds it to the router ClusterRole.
    await eventually(() => {
      kubectl(['-n', ns, 'get', 'serviceaccount', 'fraud-scorer-router']);
      assert.equal(getJson(['-n', ns, 'get', 'rolebinding', 'fraud-scorer-router']).roleRef.name, 'inference-cascade-router');
      assert.equal(cacheDegraded(ns)?.status, 'False');
    }, { timeoutMs: 30_000 });

    cascade = await startLocalCascade({
      cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
      namespace: ns,
      // One variant for every request, so the drift shows in that variant's cached embeddings
      // rather than in a change of route.
      adjust: (config) => {
        config.policy = { type: 'static', staticRole: 'distilled' };
      },
      routerFlags: ['--kubeconfig', serviceAccountKubeconfig('fraud-scorer-router', ns), '--pod-cpu-interval-ms', '1000'],
    });
    const stream = sessionStream({ streamSeed: 5, activeSessions: 32, requestsPerSession: 60, withinSessionSpread: 0.1, drift: { onset: 1200, rampRequests: 50, magnitude: 4 } });
    const records = await drive(cascade.router.url, stream, 2200, 2);
    assert.equal(records.filter((r) => r.status !== 200).length, 0);

    await eventually(() => {
      const reasons = getJson(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.kind=InferenceCascade']).items
        .filter((e: any) => e.source?.component === 'inference-cascade-router')
        .map((e: any) => `${e.type}/${e.reason}`);
      assert.ok(reasons.includes('Warning/CacheReuseDisabled'), reasons.join(', '));
      assert.ok(reasons.includes('Normal/CacheReuseEnabled'), reasons.join(', '));
    }, { timeoutMs: 20_000 });

    const admin = { 'content-type': 'application/json', authorization: `Bearer ${cascade.adminToken}` };
    await fetch(`${cascade.adminUrl}/admin/cache`, { method: 'POST', headers: admin, body: JSON.stringify({ enabled: false }) });
    await eventually(() => assert.deepEqual({ ...cacheDegraded(ns) }, { ...cacheDegraded(ns), status: 'True', reason: 'DisabledByOperator' }), { timeoutMs: 30_000 });
    await fetch(`${cascade.adminUrl}/admin/cache`, { method: 'POST', headers: admin, body: JSON.stringify({ enabled: true }) });
    await eventually(() => assert.equal(cacheDegraded(ns)?.status, 'False'), { timeoutMs: 30_000 });
  });

  it('reads each variant\'s pod CPU over its capacity from metrics.k8s.io, as the router\'s ServiceAccount', async () => {
    assert.ok(cascade, 'the router of the previous test is running');
    // The operator rendered each variant's CPU capacity (the sample's default request, 100m).
    const config = JSON.parse(getJson(['-n', ns, 'get', 'configmap', 'fraud-scorer-router']).data['router.json']);
    assert.deepEqual(config.variants.map((v: { cpuMillis: number }) => v.cpuMillis), [100, 100, 100, 100]);
    // kwok runs the operator's variant pods; give each role its own CPU use.
    const usage: Record<string, string> = { quantized: '20m', pruned: '40m', distilled: '10m', full: '80m' };
    for (const [role, cpu] of Object.entries(usage)) {
      kubectl(['-n', ns, 'annotate', 'pods', '-l', `app.kubernetes.io/instance=fraud-scorer,cascade.inference.dev/role=${role}`, `kwok.x-k8s.io/usage-cpu=${cpu}`, '--overwrite']);
    }
    const expected = { quantized: 0.2, pruned: 0.4, distilled: 0.1, full: 0.8 };
    await eventually(async () => {
      const status = await (await fetch(`${cascade!.router.url}/status`)).json() as { pod_cpu_signal: string; load: Record<string, { cpuUtilization?: number }> };
      assert.equal(status.pod_cpu_signal, 'ok');
      for (const [role, want] of Object.entries(expected)) {
        const got = status.load[role]?.cpuUtilization;
        assert.ok(got !== undefined && Math.abs(got - want) <= 0.05 * want + 0.005,
          `${role}: ${got}, expected ${want}; metrics.k8s.io has ${kubectl(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/namespaces/${ns}/pods`])}`);
      }
    }, { timeoutMs: 90_000, intervalMs: 1000 });
    const metrics = await (await fetch(`${cascade!.router.url}/metrics`)).text();
    assert.match(metrics, /inference_cascade_router_variant_cpu_utilization_ratio\{variant="full"\} 0\.[78]\d*/);
    assert.match(metrics, /inference_cascade_router_pod_metrics_polls_total\{result="ok"\} [1-9]/);
  });

  it('goes on routing with the pod CPU signal missing when its ServiceAccount may not read metrics.k8s.io', async () => {
    const other = await startLocalCascade({
      cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
      namespace: ns,
      // The operator's own ServiceAccount: a real identity without the router's metrics.k8s.io grant.
      routerFlags: ['--kubeconfig', serviceAccountKubeconfig(), '--pod-cpu-interval-ms', '500'],
    });
    try {
      await eventually(async () => {
        const status = await (await fetch(`${other.router.url}/status`)).json() as { pod_cpu_signal: string; load: Record<string, { cpuUtilization?: number }> };
        assert.equal(status.pod_cpu_signal, 'forbidden');
        for (const role of ['quantized', 'pruned', 'distilled', 'full']) assert.equal(status.load[role]?.cpuUtilization, undefined, role);
      }, { timeoutMs: 20_000 });
      const answer = await fetch(`${other.router.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ features: [Array.from({ length: 32 }, () => 0.1)] }) });
      assert.equal(answer.status, 200);
      assert.match(await (await fetch(`${other.router.url}/metrics`)).text(), /inference_cascade_router_pod_metrics_polls_total\{result="forbidden"\} [1-9]/);
    } finally {
      await other.stop();
    }
  });
});
