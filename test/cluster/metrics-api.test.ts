// The resource metrics API (metrics.k8s.io/v1beta1) on the local control plane: the real
// metrics-server, registered with the API server's aggregator, scrapes kwok's emulated kubelet
// /metrics/resource, where kwok reports each container's CPU and memory from the pod's
// kwok.x-k8s.io/usage-cpu and kwok.x-k8s.io/usage-memory annotations. Nothing here is faked:
// what the test asserts went API server -> aggregator -> metrics-server -> kwok and back.
import assert from 'node:assert/strict';
import { parseQuantity } from '../../common/quantity.js';
import { toYaml } from '../support/cascades.js';
import { ensureCluster, freshNamespace, getJson, kubectl } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

const USAGE_CPU = 'kwok.x-k8s.io/usage-cpu';
const USAGE_MEMORY = 'kwok.x-k8s.io/usage-memory';
/** metrics-server's CPU is a rate over its last two scrapes; kwok integrates with wall-clock time. */
const CPU_TOLERANCE = 0.05;

/** A Kubernetes quantity ("250m", "250000000n", "65536Ki", "1") as a number of base units. */
function quantity(q: string): number {
  const value = parseQuantity(q);
  if (value === undefined) throw new Error(`not a quantity: ${JSON.stringify(q)}`);
  return value;
}

interface Usage { cpu: string; memory: string }
interface PodMetrics {
  metadata: { name: string; namespace: string };
  timestamp: string;
  window: string;
  containers: { name: string; usage: Usage }[];
}

const raw = <T>(path: string): T => JSON.parse(kubectl(['get', '--raw', path])) as T;
const podMetrics = (ns: string): PodMetrics[] =>
  raw<{ items: PodMetrics[] }>(`/apis/metrics.k8s.io/v1beta1/namespaces/${ns}/pods`).items;

function assertUsage(where: string, usage: Usage, expected: { cpu: string; memory: string }): void {
  const cpu = quantity(usage.cpu);
  const wantCpu = quantity(expected.cpu);
  assert.ok(Math.abs(cpu - wantCpu) <= wantCpu * CPU_TOLERANCE,
    `${where}: cpu ${usage.cpu} (${cpu} cores), expected ${expected.cpu} (${wantCpu} cores) within ${CPU_TOLERANCE * 100} %`);
  assert.equal(quantity(usage.memory), quantity(expected.memory), `${where}: memory ${usage.memory}, expected ${expected.memory}`);
}

const container = (name: string): Record<string, unknown> => ({ name, image: 'registry.invalid/usage:1', resources: { requests: { cpu: '10m' } } });

describe('metrics API (metrics-server scraping kwok) on the local control plane', function () {
  this.timeout(300_000);

  before(async () => {
    await ensureCluster();
  });

  it('registers metrics.k8s.io/v1beta1 with the aggregator and it is Available', () => {
    const apiService = getJson(['get', 'apiservice', 'v1beta1.metrics.k8s.io']);
    const available = apiService.status?.conditions?.find((c: { type: string }) => c.type === 'Available');
    assert.equal(available?.status, 'True', `APIService status: ${JSON.stringify(apiService.status)}`);
    assert.equal(apiService.spec.insecureSkipTLSVerify, undefined, 'the aggregator verifies metrics-server against the cluster CA');
    const resources = raw<{ resources: { name: string }[] }>('/apis/metrics.k8s.io/v1beta1').resources.map((r) => r.name);
    assert.ok(resources.includes('pods') && resources.includes('nodes'), `discovery: ${resources.join(', ')}`);
  });

  it('serves PodMetrics whose usage is what the pods\' annotations set, and follows a change', async () => {
    const ns = freshNamespace('metrics-api');
    const deployment = { cpu: '250m', memory: '64Mi' };
    const pair = { cpu: '1500m', memory: '300Mi' };
    kubectl(['apply', '-f', '-'], toYaml(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'usage', namespace: ns },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'usage' } },
          template: {
            metadata: { labels: { app: 'usage' }, annotations: { [USAGE_CPU]: deployment.cpu, [USAGE_MEMORY]: deployment.memory } },
            spec: { nodeSelector: { type: 'kwok' }, containers: [container('app')] },
          },
        },
      },
      {
        // Two containers: kwok's usage applies per container, so each reports the annotation's value.
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'pair', namespace: ns, annotations: { [USAGE_CPU]: pair.cpu, [USAGE_MEMORY]: pair.memory } },
        spec: { nodeSelector: { type: 'kwok' }, containers: [container('main'), container('sidecar')] },
      },
    ));

    const pods = await eventually(() => {
      const items = getJson(['-n', ns, 'get', 'pods']).items;
      assert.equal(items.length, 3);
      assert.ok(items.every((p: any) => p.status.phase === 'Running' && p.spec.nodeName?.startsWith('kwok-')),
        `pods: ${JSON.stringify(items.map((p: any) => [p.metadata.name, p.spec.nodeName, p.status.phase]))}`);
      return items as { metadata: { name: string }; spec: { nodeName: string } }[];
    }, { timeoutMs: 60_000 });
    const names = pods.map((p) => p.metadata.name).sort();

    // The first PodMetrics need two scrapes (10 s apart) after kwok starts counting the pod's CPU.
    const started = Date.now();
    const metrics = await eventually(() => {
      const items = podMetrics(ns);
      assert.deepEqual(items.map((m) => m.metadata.name).sort(), names);
      return items;
    }, { timeoutMs: 90_000, intervalMs: 1000 });
    process.stderr.write(`      PodMetrics for all ${names.length} pods after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.stderr.write(`      ${JSON.stringify(metrics.find((m) => m.metadata.name === 'pair'))}\n`);

    for (const m of metrics) {
      const expected = m.metadata.name === 'pair' ? pair : deployment;
      assert.deepEqual(m.containers.map((c) => c.name).sort(), m.metadata.name === 'pair' ? ['main', 'sidecar'] : ['app']);
      for (const c of m.containers) assertUsage(`${m.metadata.name}/${c.name}`, c.usage, expected);
      // The window is the time between the two scrapes the rate comes from: the 10 s resolution.
      const windowSeconds = Number(/^([0-9.]+)s$/.exec(m.window)?.[1]);
      assert.ok(windowSeconds >= 9 && windowSeconds <= 21, `${m.metadata.name}: window ${m.window}`);
    }

    // A test steers usage: a new annotation value shows up in the metrics API within a few scrapes.
    kubectl(['-n', ns, 'annotate', 'pod', 'pair', '--overwrite', `${USAGE_CPU}=750m`, `${USAGE_MEMORY}=128Mi`]);
    await eventually(() => {
      const m = podMetrics(ns).find((x) => x.metadata.name === 'pair');
      assert.ok(m, 'PodMetrics for pair');
      for (const c of m.containers) assertUsage(`pair/${c.name}`, c.usage, { cpu: '750m', memory: '128Mi' });
    }, { timeoutMs: 60_000, intervalMs: 1000 });

    // NodeMetrics add up every pod on the node (kwok's node usage is the sum of its pods'), so each
    // node running one of these pods reports at least what they account for.
    const expectedByNode = new Map<string, { cpu: number; memory: number }>();
    for (const p of pods) {
      const perContainer = p.metadata.name === 'pair' ? { cpu: 0.75, memory: 128 * 2 ** 20 } : { cpu: 0.25, memory: 64 * 2 ** 20 };
      const containers = p.metadata.name === 'pair' ? 2 : 1;
      const sum = expectedByNode.get(p.spec.nodeName) ?? { cpu: 0, memory: 0 };
      expectedByNode.set(p.spec.nodeName, { cpu: sum.cpu + containers * perContainer.cpu, memory: sum.memory + containers * perContainer.memory });
    }
    await eventually(() => {
      for (const [node, expected] of expectedByNode) {
        const usage = raw<{ usage: Usage }>(`/apis/metrics.k8s.io/v1beta1/nodes/${node}`).usage;
        assert.ok(quantity(usage.cpu) >= expected.cpu * (1 - CPU_TOLERANCE), `${node}: cpu ${usage.cpu}, expected at least ${expected.cpu}`);
        assert.ok(quantity(usage.memory) >= expected.memory, `${node}: memory ${usage.memory}, expected at least ${expected.memory}`);
      }
    }, { timeoutMs: 60_000, intervalMs: 1000 });
  });
});
