// The plain manifests as a user applies them: `kubectl apply -f manifests/` on the local cluster.
import assert from 'node:assert/strict';
import path from 'node:path';
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../operator/kube.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { ensureCluster, getJson, KUBECONFIG, kubectl, OPERATOR_NAMESPACE } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

const SA = `system:serviceaccount:${OPERATOR_NAMESPACE}:inference-cascade-operator`;

let authorization: AuthorizationV1Api | undefined;

/**
 * What `kubectl auth can-i --as=<operator>` asks, as a SubjectAccessReview sent from this process
 * (a kubectl per check costs a quarter second of CPU; the matrix has two hundred). namespace ''
 * asks about cluster scope. The groups are the ones the API server gives a ServiceAccount token.
 */
/** resource: `plural.group[/subresource]`, optionally followed by `[objectName]`. */
async function canI(verb: string, resourceWithName: string, namespace: string): Promise<boolean> {
  const [, resource, objectName] = /^([^[]+)(?:\[(.+)\])?$/.exec(resourceWithName)!;
  const [qualified, subresource] = resource!.split('/');
  const [name, ...group] = qualified!.split('.');
  // Made on first use: the cluster (and the server address in its kubeconfig) may only now be up.
  authorization ??= loadKubeConfig(KUBECONFIG).makeApiClient(AuthorizationV1Api);
  const review = await authorization.createSubjectAccessReview({
    body: {
      spec: {
        user: SA,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${OPERATOR_NAMESPACE}`, 'system:authenticated'],
        resourceAttributes: { verb, resource: name, group: group.join('.'), ...(subresource ? { subresource } : {}), ...(objectName ? { name: objectName } : {}), ...(namespace ? { namespace } : {}) },
      },
    },
  });
  return review.status?.allowed === true;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  }));
  return results;
}

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

  it('grants the operator only what it uses: a full kubectl auth can-i matrix', async () => {
    // Every grant the ServiceAccount holds, as the API server resolves it, per namespace.
    const grants = (namespace: string): Record<string, string[]> => {
      const rows = kubectl(['auth', 'can-i', '--list', '-n', namespace, `--as=${SA}`]).split('\n').slice(1);
      const table: Record<string, string[]> = {};
      for (const row of rows) {
        const match = /^(\S+)\s+\[\]\s+(\[[^\]]*\])\s+\[([^\]]*)\]\s*$/.exec(row);
        if (!match) continue; // non-resource URLs (/healthz, /version, ...) every user may get
        const [, resource, names, verbs] = match;
        table[`${resource}${names === '[]' ? '' : names}`] = verbs!.split(' ').sort();
      }
      return table;
    };
    // What every authenticated user may do (system:basic-user), then what the operator needs.
    const everyone = Object.fromEntries(['selfsubjectreviews.authentication.k8s.io', 'selfsubjectaccessreviews.authorization.k8s.io',
      'selfsubjectrulesreviews.authorization.k8s.io'].map((r) => [r, ['create']]));
    const needed: Record<string, string[]> = {
      // Informer list/watch; get is granted too (read-only, its own kind) though the operator never calls it.
      'inferencecascades.cascade.inference.dev': ['get', 'list', 'watch'],
      'inferencecascades.cascade.inference.dev/status': ['update'],
      // Informers, server-side apply (create and patch), deletion of children no longer wanted.
      'deployments.apps': ['create', 'delete', 'list', 'patch', 'watch'],
      services: ['create', 'delete', 'list', 'patch', 'watch'],
      configmaps: ['create', 'delete', 'list', 'patch', 'watch'],
      // Each router's ServiceAccount and its RoleBinding to the router ClusterRole.
      serviceaccounts: ['create', 'delete', 'list', 'patch', 'watch'],
      'rolebindings.rbac.authorization.k8s.io': ['create', 'delete', 'list', 'patch', 'watch'],
      // Binding routers to their ClusterRole without holding its permissions, and no other role.
      'clusterroles.rbac.authorization.k8s.io[inference-cascade-router]': ['bind'],
      events: ['create'],
    };
    const lease = { 'leases.coordination.k8s.io': ['create', 'get', 'update'] };
    const sorted = (t: Record<string, string[]>) => Object.fromEntries(Object.keys(t).sort().map((k) => [k, [...t[k]!].sort()]));
    assert.deepEqual(sorted(grants('default')), sorted({ ...everyone, ...needed }));
    assert.deepEqual(sorted(grants(OPERATOR_NAMESPACE)), sorted({ ...everyone, ...needed, ...lease }));

    // The same, verb by verb (as kubectl auth can-i asks): yes exactly where needed.
    const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
    const checks: [string, string, string, boolean][] = [];
    for (const namespace of ['default', OPERATOR_NAMESPACE]) {
      const wanted: Record<string, string[]> = { ...needed, ...(namespace === OPERATOR_NAMESPACE ? lease : { 'leases.coordination.k8s.io': [] }), 'events.events.k8s.io': [] };
      for (const [resource, verbs] of Object.entries(wanted)) {
        for (const verb of VERBS) checks.push([verb, resource, namespace, verbs.includes(verb)]);
      }
      // Nothing it could use to reach further: secrets, pods and their exec, tokens, RBAC, webhooks.
      for (const [verb, resource] of [
        ['get', 'secrets'], ['list', 'secrets'], ['watch', 'secrets'], ['create', 'secrets'],
        ['get', 'pods'], ['create', 'pods'], ['delete', 'pods'], ['create', 'pods/exec'], ['create', 'pods/attach'], ['create', 'pods/portforward'],
        ['get', 'pods/log'], ['create', 'serviceaccounts/token'], ['impersonate', 'serviceaccounts'],
        ['create', 'roles.rbac.authorization.k8s.io'], ['bind', 'roles.rbac.authorization.k8s.io'],
        ['bind', 'clusterroles.rbac.authorization.k8s.io[cluster-admin]'], ['bind', 'clusterroles.rbac.authorization.k8s.io[admin]'],
        ['escalate', 'roles.rbac.authorization.k8s.io'], ['patch', 'deployments.apps/scale'], ['update', 'deployments.apps/status'],
        ['create', 'replicasets.apps'], ['create', 'statefulsets.apps'], ['create', 'daemonsets.apps'], ['create', 'jobs.batch'],
        ['create', 'persistentvolumeclaims'], ['update', 'resourcequotas'], ['create', 'networkpolicies.networking.k8s.io'], ['*', '*'],
      ] as const) checks.push([verb, resource, namespace, false]);
    }
    // Cluster-scoped: no nodes, namespaces, RBAC, CRDs, webhooks, CSRs, volumes or impersonation.
    for (const [verb, resource] of [
      ['create', 'clusterroles.rbac.authorization.k8s.io'], ['update', 'clusterroles.rbac.authorization.k8s.io'], ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
      ['bind', 'clusterroles.rbac.authorization.k8s.io'], ['create', 'clusterrolebindings.rbac.authorization.k8s.io'], ['update', 'clusterrolebindings.rbac.authorization.k8s.io'],
      ['create', 'namespaces'], ['delete', 'namespaces'], ['update', 'namespaces'], ['get', 'nodes'], ['create', 'nodes'], ['update', 'nodes'], ['patch', 'nodes'],
      ['delete', 'nodes'], ['patch', 'nodes/status'], ['create', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['update', 'customresourcedefinitions.apiextensions.k8s.io'], ['delete', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['create', 'mutatingwebhookconfigurations.admissionregistration.k8s.io'], ['create', 'validatingwebhookconfigurations.admissionregistration.k8s.io'],
      ['create', 'certificatesigningrequests.certificates.k8s.io'], ['update', 'certificatesigningrequests.certificates.k8s.io/approval'],
      ['create', 'persistentvolumes'], ['impersonate', 'users'], ['impersonate', 'groups'], ['create', 'tokenreviews.authentication.k8s.io'],
      ['create', 'subjectaccessreviews.authorization.k8s.io'],
    ] as const) checks.push([verb, resource, '', false]);
    // Grants to groups count too: every authenticated user may review its own access.
    checks.push(['create', 'selfsubjectaccessreviews.authorization.k8s.io', '', true]);

    const answers = await mapLimit(checks, 8, ([verb, resource, namespace]) => canI(verb, resource, namespace));
    const wrong = checks.filter((c, i) => answers[i] !== c[3]).map(([verb, resource, namespace, expected]) =>
      `${expected ? 'cannot' : 'can'} ${verb} ${resource}${namespace ? ` in ${namespace}` : ' (cluster)'}`);
    assert.deepEqual(wrong, []);
    assert.ok(checks.filter((c) => c[3]).length >= 20 && checks.length >= 150, `${checks.length} checks`);
  });
});
