// npm run bench:operator [-- --sizes 10,100,300]: applies N cascades at once and measures the
// seconds until every one is Ready and the operator's peak RSS (VmHWM), on the local control plane.
// Writes reports/bench-operator.json. Every pod really goes through kube-scheduler and kwok, so
// on 2 cores the control plane itself is most of the cost: the report says how busy it was.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { up } from '../scripts/cluster/controlplane.js';
import { installCrdAndRbac, kubectl, serviceAccountKubeconfig } from '../scripts/cluster/kubectl.js';
import { fakeNode } from '../scripts/cluster/nodes.js';
import { KUBECONFIG, ROOT, STATE_FILE } from '../scripts/cluster/paths.js';
import { GROUP, PLURAL, VERSION, type InferenceCascade } from '../crds/types.js';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { createClients, loadKubeConfig } from '../operator/kube.js';
import { sampleCascade, toYaml } from '../test/support/cascades.js';
import { startOperator } from '../test/support/operator.js';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,100,300' }, workers: { type: 'string', default: '8' } } });
const sizes = values.sizes.split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`--sizes must be integers from 1 to 1000, got "${s}"`);
  return n;
});
const say = (m: string): void => {
  process.stderr.write(`[bench:operator] ${m}\n`);
};

// The same Node flags as the shipped operator Deployment (manifests/03-operator.yaml NODE_OPTIONS).
const OPERATOR_NODE_FLAGS = ['--max-semi-space-size=2', '--max-old-space-size=128'];

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// CPU seconds of each control-plane process, so the report shows who kept the cores busy.
function controlPlaneCpu(): Record<string, number> {
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as { processes: { name: string; pid: number }[] };
  return Object.fromEntries(state.processes.map((p) => [p.name, cpuSeconds(p.pid)]));
}

function cpuDelta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, Number((v - (before[k] ?? 0)).toFixed(2))]));
}

// Polled in-process: spawning kubectl for 300 objects twice a second cost a third of a core.
async function readyCount(custom: CustomObjectsApi, ns: string): Promise<number> {
  const list = await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns }) as { items: InferenceCascade[] };
  return list.items.filter((c) => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
}

function writeReport(runs: unknown[]): void {
  mkdirSync(path.join(ROOT, 'reports'), { recursive: true });
  const report = {
    runs,
    target: { cascades: 300, seconds_to_ready_max: 60, operator_peak_rss_mb_max: 250 },
    operator: { build: 'compiled (npm run build)', node_flags: OPERATOR_NODE_FLAGS, workers: Number(values.workers) },
    machine: { cpus: os.cpus().length, memory_gb: Math.round(os.totalmem() / 2 ** 30) },
    note: 'The control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok, metrics-server) shares the same cores as the operator; every cascade creates 5 Deployments, 5 Services, 1 ConfigMap, a ServiceAccount, a RoleBinding and 5 pods. control_plane_floor_seconds is the control plane CPU time divided by the cores: a lower bound on seconds_to_ready however cheap the operator is.',
  };
  writeFileSync(path.join(ROOT, 'reports', 'bench-operator.json'), `${JSON.stringify(report, null, 2)}\n`);
}

await up((m) => say(m));
installCrdAndRbac();
const custom = createClients(loadKubeConfig(KUBECONFIG)).custom;
// One GPU per cascade: add fake GPU capacity for the largest run.
const benchNodes = [fakeNode({ name: 'kwok-gpu-bench', gpus: Math.max(...sizes) + 8 })];
kubectl(['apply', '-f', '-'], benchNodes.map((n) => `---\n${stringify(n)}`).join(''));
kubectl(['wait', '--for=condition=Ready', 'node/kwok-gpu-bench', '--timeout=60s']);

const runs = [];
for (const cascades of sizes) {
  const ns = `bench-${cascades}-${Date.now() % 100000}`;
  kubectl(['create', 'namespace', ns]);
  const operator = await startOperator({
    kubeconfig: serviceAccountKubeconfig('inference-cascade-operator', 'inference-cascade-system'),
    identity: `bench-${cascades}`, extraArgs: [`--workers=${values.workers}`, '--log-level=info'],
    compiled: { nodeFlags: OPERATOR_NODE_FLAGS },
  });
  const pid = operator.child.pid!;
  const objects = Array.from({ length: cascades }, (_, i) => sampleCascade(`c${i}`, ns, (spec) => {
    for (const v of spec.variants) v.replicas = 1;
    spec.router.replicas = 1;
  }));
  const cpuBefore = cpuSeconds(pid);
  const controlPlaneBefore = controlPlaneCpu();
  const loadBefore = os.loadavg()[0] ?? 0;
  say(`N=${cascades}: applying`);
  const started = Date.now();
  kubectl(['apply', '-f', '-'], toYaml(...objects));
  let ready = 0;
  let lastReport = 0;
  let peakRss = peakRssMb(pid);
  while (ready < cascades) {
    await sleep(1000);
    if (operator.child.exitCode !== null) throw new Error(`N=${cascades}: the operator exited with ${operator.child.exitCode}; last logs:\n${operator.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
    peakRss = Math.max(peakRss, peakRssMb(pid));
    ready = await readyCount(custom, ns);
    if (Date.now() - lastReport > 5000) {
      say(`N=${cascades}: ${ready}/${cascades} Ready after ${((Date.now() - started) / 1000).toFixed(0)} s, operator RSS peak ${peakRss.toFixed(0)} MB`);
      lastReport = Date.now();
    }
    if (Date.now() - started > 600_000) throw new Error(`N=${cascades}: only ${ready} Ready after 600 s`);
  }
  const seconds = (Date.now() - started) / 1000;
  const controlPlane = cpuDelta(controlPlaneCpu(), controlPlaneBefore);
  const controlPlaneTotal = Object.values(controlPlane).reduce((a, b) => a + b, 0);
  const run = {
    cascades,
    seconds_to_ready: Number(seconds.toFixed(2)),
    operator_peak_rss_mb: Number(Math.max(peakRss, peakRssMb(pid)).toFixed(1)),
    operator_cpu_seconds: Number((cpuSeconds(pid) - cpuBefore).toFixed(2)),
    control_plane_cpu_seconds: controlPlane,
    // The control plane's own work spread over every core: no operator, however cheap, gets all
    // cascades Ready sooner on this machine.
    control_plane_floor_seconds: Number((controlPlaneTotal / os.cpus().length).toFixed(1)),
    pods: cascades * 5,
    load_average_1m_before: Number(loadBefore.toFixed(2)),
  };
  say(`N=${cascades}: all Ready in ${run.seconds_to_ready} s; peak RSS ${run.operator_peak_rss_mb} MB; operator CPU ${run.operator_cpu_seconds} s; control plane CPU ${controlPlaneTotal.toFixed(1)} s (${run.control_plane_floor_seconds} s on ${os.cpus().length} cores)`);
  runs.push(run);
  await operator.stop();
  writeReport(runs);
  say(`N=${cascades}: deleting namespace`);
  kubectl(['delete', 'namespace', ns, '--wait=false']);
  const deleteStarted = Date.now();
  while (kubectl(['get', 'namespaces', '-o', 'name']).includes(`namespace/${ns}\n`)) {
    if (Date.now() - deleteStarted > 600_000) throw new Error(`namespace ${ns} still terminating after 600 s`);
    await sleep(2000);
  }
}
kubectl(['delete', 'node', 'kwok-gpu-bench', '--wait=false']);

writeReport(runs);
say('wrote reports/bench-operator.json');
