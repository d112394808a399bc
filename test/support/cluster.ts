// The real local control plane for tests: started once per test run (or reused when it is already
// up), with the CRD and RBAC installed from the very files that ship in manifests/.
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { isUp, up, down } from '../../scripts/cluster/controlplane.js';
import { startAuditLog } from './audit.js';
import { installCrdAndRbac, kubectl, serviceAccountKubeconfig as kubeconfigFor } from '../../scripts/cluster/kubectl.js';
import { KUBECONFIG } from '../../scripts/cluster/paths.js';

export const OPERATOR_NAMESPACE = 'inference-cascade-system';
export const OPERATOR_SA = 'inference-cascade-operator';

let startedByTests = false;
let ready: Promise<void> | undefined;

/** Runs kubectl and returns its failure (stderr) instead of throwing; undefined on success. */
export function kubectlError(args: string[], input?: string): string | undefined {
  try {
    kubectl(args, input);
    return undefined;
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
}

export interface KubectlResult {
  status: number | null;
  stdout: string;
  /** Where kubectl prints the API server's warnings ("Warning: ...") as well as errors. */
  stderr: string;
}

/** Runs kubectl as the admin and keeps stderr even on success, e.g. to see admission warnings. */
export function kubectlFull(args: string[], input?: string): KubectlResult {
  const result = spawnSync('kubectl', ['--kubeconfig', KUBECONFIG, ...args], { input, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The API server's URL, as the admin kubeconfig names it. */
export function apiServerUrl(): string {
  return JSON.parse(kubectl(['config', 'view', '--minify', '-o', 'json'])).clusters[0].cluster.server as string;
}

export function getJson<T = any>(args: string[]): T {
  return JSON.parse(kubectl([...args, '-o', 'json'])) as T;
}

async function install(): Promise<void> {
  if (!(await isUp())) {
    await up((m) => process.stderr.write(`      [cluster] ${m}\n`));
    startedByTests = true;
  }
  installCrdAndRbac();
  startAuditLog();
}

/** Starts the control plane if needed and installs the CRD and RBAC; idempotent. */
export function ensureCluster(): Promise<void> {
  ready ??= install();
  return ready;
}

export async function stopClusterIfStartedByTests(): Promise<void> {
  if (ready) deleteTestNamespaces();
  if (startedByTests && process.env.KEEP_CLUSTER !== '1') await down(() => {});
}

export function serviceAccountKubeconfig(serviceAccount = OPERATOR_SA, namespace = OPERATOR_NAMESPACE): string {
  return kubeconfigFor(serviceAccount, namespace);
}

let namespaceCounter = 0;
const createdNamespaces: string[] = [];

/** Deletes the namespaces this run created, without waiting for their contents to go. */
export function deleteTestNamespaces(): void {
  for (const name of createdNamespaces.splice(0)) kubectlError(['delete', 'namespace', name, '--wait=false']);
}

/** A fresh namespace per test keeps tests independent on one shared cluster. */
export function freshNamespace(prefix: string, labels: Record<string, string> = {}): string {
  const name = `${prefix}-${process.pid % 10000}-${++namespaceCounter}`;
  kubectl(['apply', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }));
  createdNamespaces.push(name);
  return name;
}

export { KUBECONFIG, kubectl };
