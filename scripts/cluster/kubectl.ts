import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { PKI } from './certs.js';
import { CLUSTER_DIR, KUBECONFIG, ROOT } from './paths.js';

export function kubectl(args: string[], input?: string, kubeconfig = KUBECONFIG): string {
  return execFileSync('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000, maxBuffer: 256 * 1024 * 1024,
  });
}

/**
 * A kubeconfig that authenticates as a ServiceAccount through a bound token, so a locally run
 * operator has exactly the permissions the shipped RBAC grants it.
 */
export function serviceAccountKubeconfig(serviceAccount: string, namespace: string): string {
  const token = kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=6h']).trim();
  const server = JSON.parse(kubectl(['config', 'view', '--minify', '-o', 'json'])).clusters[0].cluster.server as string;
  const file = path.join(CLUSTER_DIR, `${namespace}.${serviceAccount}.kubeconfig`);
  writeFileSync(file, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority': PKI.caCert } }],
    users: [{ name: serviceAccount, user: { token } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: serviceAccount } }],
    'current-context': 'local',
  }), { mode: 0o600 });
  return file;
}

/** The namespace, CRD and RBAC from manifests/ (not the operator Deployment), and the CRD established. */
export function installCrdAndRbac(): void {
  const files = ['00-namespace.yaml', '01-crd.yaml', '02-rbac.yaml'].flatMap((f) => ['-f', path.join(ROOT, 'manifests', f)]);
  kubectl(['apply', '--server-side', '--force-conflicts', ...files]);
  kubectl(['wait', '--for=condition=Established', 'crd/inferencecascades.cascade.inference.dev', '--timeout=30s']);
}
