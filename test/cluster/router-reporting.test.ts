// The router's cache agent reporting to the real API server: a router running as its own
// ServiceAccount (bound to the shipped inference-cascade-router ClusterRole) records Events on the
// cascade and the cache-state annotation, and the operator turns that into CacheDegraded.
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

  before(async () => {
    await ensureCluster();
    operator = await startOperator({ kubeconfig: serviceAccountKubeconfig(), identity: 'operator-router-reporting' });
  });
  after(async () => {
    await cascade?.stop();
    await operator?.stop();
  });

  it('records Events and the cache state, which the operator shows as CacheDegraded', async () => {
    const ns = freshNamespace('router-report');
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('fraud-scorer', ns)));
    kubectl(['-n', ns, 'create', 'serviceaccount', 'fraud-scorer-router']);
    kubectl(['-n', ns, 'create', 'rolebinding', 'fraud-scorer-router', '--clusterrole=inference-cascade-router', `--serviceaccount=${ns}:fraud-scorer-router`]);
    await eventually(() => assert.equal(cacheDegraded(ns)?.status, 'False'), { timeoutMs: 30_000 });

    cascade = await startLocalCascade({
      cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
      namespace: ns,
      // One variant for every request, so the drift shows in that variant's cached embeddings
      // rather than in a change of route.
      adjust: (config) => {
        config.policy = { type: 'static', staticRole: 'distilled' };
      },
      routerFlags: ['--kubeconfig', serviceAccountKubeconfig('fraud-scorer-router', ns)],
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
});
