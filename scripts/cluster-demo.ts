// npm run demo: the whole operator path on the local control plane. Starts the cluster (building
// it the first time), installs the CRD and RBAC from manifests/, runs the operator as its
// ServiceAccount, applies the sample cascade and shows it turning Ready.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { up } from './cluster/controlplane.js';
import { installCrdAndRbac, kubectl, serviceAccountKubeconfig } from './cluster/kubectl.js';
import { KUBECONFIG, ROOT } from './cluster/paths.js';

const NAMESPACE = 'demo';
const say = (m: string): void => console.log(`[demo] ${m}`);

await up((m) => say(m));
installCrdAndRbac();
kubectl(['apply', '-f', '-'], kubectl(['create', 'namespace', NAMESPACE, '--dry-run=client', '-o', 'yaml']));

say('starting the operator (logs: .cluster/logs/operator-demo.log)');
const operator = spawn(process.execPath, [
  '--import', 'tsx', path.join(ROOT, 'operator', 'main.ts'),
  `--kubeconfig=${serviceAccountKubeconfig('inference-cascade-operator', 'inference-cascade-system')}`,
  '--health-probe-bind-address=127.0.0.1:0', '--identity=operator-demo',
], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
operator.stderr.pipe(createWriteStream(path.join(ROOT, '.cluster', 'logs', 'operator-demo.log')));

try {
  const started = Date.now();
  say('applying manifests/samples/cascade.yaml');
  kubectl(['-n', NAMESPACE, 'apply', '-f', path.join(ROOT, 'manifests', 'samples', 'cascade.yaml')]);
  for (;;) {
    const ready = kubectl(['-n', NAMESPACE, 'get', 'inferencecascade', 'fraud-scorer', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    if (ready === 'True') break;
    if (Date.now() - started > 120_000) throw new Error('the sample cascade did not turn Ready within 120 s');
    await sleep(500);
  }
  say(`fraud-scorer Ready ${((Date.now() - started) / 1000).toFixed(1)} s after apply\n`);
  console.log(kubectl(['-n', NAMESPACE, 'get', 'inferencecascades']));
  console.log(kubectl(['-n', NAMESPACE, 'get', 'deployments,services,configmaps', '-l', 'cascade.inference.dev/cascade=fraud-scorer']));
  console.log(kubectl(['-n', NAMESPACE, 'get', 'pods', '-o', 'custom-columns=POD:.metadata.name,COMPONENT:.metadata.labels.app\\.kubernetes\\.io/component,ROLE:.metadata.labels.cascade\\.inference\\.dev/role,NODE:.spec.nodeName,PHASE:.status.phase']));
  say(`the cluster stays up: KUBECONFIG=${KUBECONFIG} kubectl -n ${NAMESPACE} describe inferencecascade fraud-scorer`);
  say('stop it with: npm run cluster:down');
} finally {
  operator.kill('SIGTERM');
}
