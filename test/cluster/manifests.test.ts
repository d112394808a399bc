// The plain manifests as a user applies them: `kubectl apply -f manifests/` on the local cluster.
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import { ensureCluster, getJson, kubectl, OPERATOR_NAMESPACE } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

const SA = `system:serviceaccount:${OPERATOR_NAMESPACE}:inference-cascade-operator`;

describe('manifests/ on the local control plane', function () {
  this.timeout(120_000);

  before(ensureCluster);

  it('kubectl apply -f manifests/ succeeds and the operator Deployment passes restricted Pod Security', async () => {
    const out = kubectl(['apply', '-f', path.join(ROOT, 'manifests')]);
    for (const line of ['customresourcedefinition.apiextensions.k8s.io/inferencecascades.cascade.inference.dev',
      'clusterrole.rbac.authorization.k8s.io/inference-cascade-operator', 'deployment.apps/inference-cascade-operator']) {
      assert.ok(out.includes(line), `${line} in:\n${out}`);
    }
    const ns = getJson(['get', 'namespace', OPERATOR_NAMESPACE]);
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    // Pods that broke the restricted profile would be refused, leaving the Deployment unavailable.
    await eventually(() => {
      const deployment = getJson(['-n', OPERATOR_NAMESPACE, 'get', 'deployment', 'inference-cascade-operator']);
      assert.equal(deployment.status.availableReplicas, 2);
    }, { timeoutMs: 60_000 });
  });

  it('grants the operator only what it uses (kubectl auth can-i)', () => {
    const can = (verb: string, resource: string, namespace = 'default'): boolean => {
      const [name, subresource] = resource.split('/');
      try {
        return kubectl(['auth', 'can-i', verb, name!, ...(subresource ? [`--subresource=${subresource}`] : []), '-n', namespace, `--as=${SA}`]).trim() === 'yes';
      } catch {
        return false; // can-i exits 1 on "no"
      }
    };
    const allowed = [
      ['watch', 'inferencecascades.cascade.inference.dev'], ['update', 'inferencecascades.cascade.inference.dev/status'],
      ['patch', 'deployments.apps'], ['create', 'services'], ['delete', 'configmaps'], ['create', 'events'],
    ];
    const denied = [
      ['get', 'secrets'], ['list', 'secrets'], ['update', 'inferencecascades.cascade.inference.dev'],
      ['delete', 'inferencecascades.cascade.inference.dev'], ['create', 'pods'], ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
      ['update', 'leases.coordination.k8s.io'],
    ];
    for (const [verb, resource] of allowed) assert.ok(can(verb!, resource!), `may ${verb} ${resource}`);
    for (const [verb, resource] of denied) assert.ok(!can(verb!, resource!), `may not ${verb} ${resource}`);
    assert.ok(can('update', 'leases.coordination.k8s.io', OPERATOR_NAMESPACE), 'may update its own Lease');
  });
});
