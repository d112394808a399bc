// The Helm chart (helm/inference-cascade) on the local control plane: lint, server-side dry run of
// the rendered objects, install (the operator, run here as the chart's ServiceAccount, reconciles
// the sample cascade to Ready), upgrade and uninstall. helm is built with the control plane (.bin/).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { InferenceCascade } from '../../crds/types.js';
import { defaultBuildOptions, desiredChildren } from '../../operator/desired/index.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { sampleCascade, toYaml } from '../support/cascades.js';
import { ensureCluster, freshNamespace, getJson, KUBECONFIG, kubectl, kubectlError, serviceAccountKubeconfig } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';

const HELM = path.join(ROOT, '.bin', 'helm');
const CHART = path.join(ROOT, 'helm', 'inference-cascade');
const RELEASE = 'ic';
const FULLNAME = 'ic-inference-cascade';

function helm(args: string[]): string {
  const result = spawnSync(HELM, [...args, '--kubeconfig', KUBECONFIG], { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: path.join(ROOT, '.cluster', 'helm-cache'), HELM_CONFIG_HOME: path.join(ROOT, '.cluster', 'helm-config') } });
  if (result.status !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.status}):\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

function renderedKinds(text: string): string[] {
  return parseAllDocuments(text).map((d) => d.toJS() as { kind?: string } | null).filter((o) => o?.kind).map((o) => o!.kind!);
}

const readyStatus = (ns: string, name: string): string | undefined =>
  getJson(['-n', ns, 'get', 'inferencecascade', name]).status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status;

describe('helm chart on the local control plane', function () {
  this.timeout(180_000);
  let ns: string;
  let cascadeNs: string;
  let operator: OperatorProcess | undefined;

  before(async () => {
    await ensureCluster();
    ns = freshNamespace('helm');
  });

  after(async () => {
    await operator?.stop();
    spawnSync(HELM, ['uninstall', RELEASE, '-n', ns, '--kubeconfig', KUBECONFIG]);
    // Its router binds the release's ClusterRole: later tests' operators would re-point it.
    if (cascadeNs) spawnSync('kubectl', ['--kubeconfig', KUBECONFIG, 'delete', 'namespace', cascadeNs, '--wait=false']);
  });

  /** The pod templates the operator builds for the sample cascade, by component. */
  const sampleCascadePods = (): Record<'router' | 'variant', any> => {
    const cascade = { ...sampleCascade('podmon', 'ns'), metadata: { name: 'podmon', namespace: 'ns', uid: 'u' } } as unknown as InferenceCascade;
    const templates = desiredChildren(cascade, defaultBuildOptions).filter((c) => c.kind === 'Deployment').map((d) => (d as any).spec.template);
    return {
      router: templates.find((t) => t.metadata.labels['app.kubernetes.io/component'] === 'router'),
      variant: templates.find((t) => t.metadata.labels['app.kubernetes.io/component'] === 'variant'),
    };
  };

  it('lints clean (strict)', () => {
    const out = helm(['lint', '--strict', CHART]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(out, /\[(WARNING|ERROR)\]/);
  });

  it('renders objects the API server accepts (server-side dry run), with and without the optional ones', () => {
    const plain = helm(['template', RELEASE, CHART, '-n', ns, '--kube-version', '1.33.0']);
    assert.deepEqual(renderedKinds(plain).sort(), ['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    const withPolicy = helm(['template', RELEASE, CHART, '-n', ns, '--kube-version', '1.33.0', '--set', 'networkPolicy.enabled=true', '--set', 'operator.logLevel=debug']);
    for (const text of [plain, withPolicy]) {
      const out = kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-'], text);
      assert.match(out, /deployment\.apps\/ic-inference-cascade-operator created \(server dry run\)/);
    }
    const monitored = helm(['template', RELEASE, CHART, '-n', ns, '--kube-version', '1.33.0', '--set', 'serviceMonitor.enabled=true', '--set', 'podMonitor.enabled=true']);
    assert.ok(renderedKinds(monitored).includes('ServiceMonitor'), 'ServiceMonitor rendered when enabled');
    // The cascades' router and variant pods, in any namespace, on the port that serves /metrics.
    const podMonitor = parseAllDocuments(monitored).map((d) => d.toJS()).find((o) => o?.kind === 'PodMonitor');
    assert.ok(podMonitor, 'PodMonitor rendered when enabled');
    assert.deepEqual(podMonitor.spec.namespaceSelector, { any: true });
    for (const [component, pod] of Object.entries(sampleCascadePods())) {
      const labels = pod.metadata.labels as Record<string, string>;
      assert.ok(Object.entries(podMonitor.spec.selector.matchLabels).every(([k, v]) => labels[k] === v), `${component} pod labels match`);
      assert.ok(podMonitor.spec.selector.matchExpressions[0].values.includes(labels['app.kubernetes.io/component']), component);
      assert.ok(pod.spec.containers[0].ports.some((p: { name: string }) => p.name === podMonitor.spec.podMetricsEndpoints[0].port), `${component} exposes the scraped port`);
    }
    // A bad value is refused by the API server with the field named, not rendered silently.
    const bad = helm(['template', RELEASE, CHART, '-n', ns, '--kube-version', '1.33.0', '--set', 'operator.replicas=-1']);
    const error = kubectlError(['apply', '--dry-run=server', '-n', ns, '-f', '-'], bad);
    assert.match(error ?? '', /spec\.replicas/);
  });

  it('installs an operator whose ServiceAccount and RBAC reconcile the sample cascade, under restricted Pod Security', async () => {
    kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', '--overwrite']);
    helm(['install', RELEASE, CHART, '-n', ns, '--wait', '--timeout', '90s']);
    const deployment = getJson(['-n', ns, 'get', 'deployment', `${FULLNAME}-operator`]);
    assert.equal(deployment.status.availableReplicas, 2, 'pods admitted under restricted and Ready');
    const args: string[] = deployment.spec.template.spec.containers[0].args;
    assert.ok(args.includes('--leader-elect=true') && args.includes(`--lease-name=${FULLNAME}-operator`), args.join(' '));
    assert.ok(args.includes(`--router-cluster-role=${FULLNAME}-router`), args.join(' '));
    const as = `--as=system:serviceaccount:${ns}:${FULLNAME}-operator`;
    const can = (verb: string, resource: string, namespace: string) => kubectlError(['auth', 'can-i', verb, resource, '-n', namespace, as]) === undefined;
    assert.ok(can('watch', 'inferencecascades.cascade.inference.dev', 'default') && can('patch', 'deployments.apps', 'default'), 'the operator may do its job');
    assert.ok(can('update', 'leases.coordination.k8s.io', ns) && !can('update', 'leases.coordination.k8s.io', 'default'), 'its Lease only in the release namespace');
    assert.ok(!can('get', 'secrets', 'default') && !can('create', 'pods', 'default'), 'and nothing it does not use');
    assert.ok(can('bind', `clusterroles.rbac.authorization.k8s.io/${FULLNAME}-router`, 'default') &&
      !can('bind', 'clusterroles.rbac.authorization.k8s.io/cluster-admin', 'default'), 'it may bind the chart\'s router ClusterRole and no other');
    // No kubelet runs containers here: the operator runs as a local process with the chart's ServiceAccount token.
    operator = await startOperator({
      kubeconfig: serviceAccountKubeconfig(`${FULLNAME}-operator`, ns),
      identity: 'helm-test',
      extraArgs: [`--namespace=${ns}`, `--lease-name=${FULLNAME}-operator`, `--router-cluster-role=${FULLNAME}-router`],
    });
    cascadeNs = freshNamespace('helm-cascade');
    kubectl(['apply', '-f', '-'], toYaml(sampleCascade('helm-sample', cascadeNs)));
    await eventually(() => assert.equal(readyStatus(cascadeNs, 'helm-sample'), 'True'), { timeoutMs: 60_000, intervalMs: 500 });
    assert.equal(getJson(['-n', cascadeNs, 'get', 'rolebinding', 'helm-sample-router']).roleRef.name, `${FULLNAME}-router`);
    const lease = getJson(['-n', ns, 'get', 'lease', `${FULLNAME}-operator`]);
    assert.equal(lease.spec.holderIdentity, 'helm-test');
  });

  it('upgrades in place: new values reach the Deployment as a new revision', () => {
    helm(['upgrade', RELEASE, CHART, '-n', ns, '--reuse-values', '--set', 'operator.logLevel=debug', '--set', 'operator.replicas=1', '--wait', '--timeout', '90s']);
    const deployment = getJson(['-n', ns, 'get', 'deployment', `${FULLNAME}-operator`]);
    assert.equal(deployment.spec.replicas, 1);
    assert.ok(deployment.spec.template.spec.containers[0].args.includes('--log-level=debug'));
    const history = JSON.parse(helm(['history', RELEASE, '-n', ns, '-o', 'json'])) as { revision: number; status: string }[];
    assert.deepEqual(history.map((h) => [h.revision, h.status]), [[1, 'superseded'], [2, 'deployed']]);
  });

  it('uninstalls everything it created but the CRD (and so the users\' cascades)', async () => {
    await operator?.stop();
    operator = undefined;
    helm(['uninstall', RELEASE, '-n', ns, '--wait']);
    for (const [kind, namespaced] of [['deployment', true], ['serviceaccount', true], ['role', true], ['clusterrole', false], ['clusterrolebinding', false]] as const) {
      const name = kind === 'role' ? `${FULLNAME}-leader-election` : `${FULLNAME}-operator`;
      const error = kubectlError(['get', kind, name, ...(namespaced ? ['-n', ns] : [])]);
      assert.match(error ?? 'still there', /NotFound/, `${kind} ${name} removed`);
    }
    assert.match(execFileSync('kubectl', ['--kubeconfig', KUBECONFIG, 'get', 'crd', 'inferencecascades.cascade.inference.dev', '-o', 'name'], { encoding: 'utf8' }), /inferencecascades/);
    assert.equal(getJson(['-n', cascadeNs, 'get', 'inferencecascade', 'helm-sample']).metadata.name, 'helm-sample', 'the cascade outlives the release');
  });
});
