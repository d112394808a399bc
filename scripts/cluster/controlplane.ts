// The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
// metrics-server, built from source by scripts/build-controlplane.sh and started on 127.0.0.1 only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { ensurePki, FRONT_PROXY_CLIENT, PKI } from './certs.js';
import { kubectl } from './kubectl.js';
import { fakeNodes } from './nodes.js';
import { AUDIT_LOG, binary, CLUSTER_DIR, KUBECONFIG, ROOT, STATE_FILE } from './paths.js';
import { isRunning, startDetached, stopProcess, tailLog, type StartedProcess } from './processes.js';

export interface ClusterState {
  server: string;
  ports: {
    etcd: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number; kwok: number;
    metricsServer: number;
  };
  processes: StartedProcess[];
}

type Progress = (message: string) => void;
const defaultProgress: Progress = (m) => process.stderr.write(`[cluster] ${m}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function readState(): ClusterState | undefined {
  if (!existsSync(STATE_FILE)) return undefined;
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as ClusterState;
}

/** GET a health endpoint; true on HTTP 200. TLS endpoints of local components use self-signed certs. */
function healthy(url: string, withAdminCert = false): Promise<boolean> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage): void => {
      res.resume();
      resolve(res.statusCode === 200);
    };
    // A state file from before a component was added has no port for it: that cluster is not up.
    if (!URL.canParse(url)) {
      resolve(false);
      return;
    }
    const req = url.startsWith('https:')
      ? https.get(url, {
          timeout: 2000,
          rejectUnauthorized: withAdminCert,
          ...(withAdminCert
            ? { ca: readFileSync(PKI.caCert), cert: readFileSync(PKI.adminCert), key: readFileSync(PKI.adminKey) }
            : {}),
        }, onResponse)
      : http.get(url, { timeout: 2000 }, onResponse);
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, proc?: StartedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (proc && !isRunning(proc)) throw new Error(`${what} exited during start-up; last log lines:\n${tailLog(proc)}`);
    await sleep(250);
  }
  throw new Error(`${what} not healthy after ${timeoutMs / 1000} s${proc ? `; last log lines:\n${tailLog(proc)}` : ''}`);
}

function healthUrls(state: ClusterState): Record<string, { url: string; admin: boolean }> {
  return {
    etcd: { url: `http://127.0.0.1:${state.ports.etcd}/health`, admin: false },
    'kube-apiserver': { url: `${state.server}/readyz`, admin: true },
    'kube-controller-manager': { url: `https://127.0.0.1:${state.ports.controllerManager}/healthz`, admin: false },
    'kube-scheduler': { url: `https://127.0.0.1:${state.ports.scheduler}/healthz`, admin: false },
    kwok: { url: `http://127.0.0.1:${state.ports.kwok}/healthz`, admin: false },
    // /livez, not /readyz: metrics-server turns ready only after a few scrapes of nodes with pods.
    'metrics-server': { url: `https://127.0.0.1:${state.ports.metricsServer}/livez`, admin: true },
  };
}

/** True when every process of the recorded cluster runs and answers its health check. */
export async function isUp(): Promise<boolean> {
  const state = readState();
  if (!state || !state.processes.every(isRunning)) return false;
  const checks = Object.values(healthUrls(state));
  return (await Promise.all(checks.map((c) => healthy(c.url, c.admin)))).every(Boolean);
}

function writeKubeconfig(file: string, server: string): void {
  writeFileSync(file, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority': PKI.caCert } }],
    users: [{ name: 'admin', user: { 'client-certificate': PKI.adminCert, 'client-key': PKI.adminKey } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin' } }],
    'current-context': 'local',
  }));
}

function writeConfigFiles(): { audit: string; scheduler: string } {
  const audit = path.join(CLUSTER_DIR, 'audit-policy.yaml');
  // Writes by ServiceAccounts (the operator runs as one) with who made them: tests read this log
  // to count the operator's write calls. The control plane's own writes are left out, as logging
  // them costs the API server CPU that benchmarks would charge to the operator.
  writeFileSync(audit, stringify({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [
      { level: 'Metadata', userGroups: ['system:serviceaccounts'], verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
      { level: 'None' },
    ],
  }));
  const scheduler = path.join(CLUSTER_DIR, 'scheduler.yaml');
  writeFileSync(scheduler, stringify({
    apiVersion: 'kubescheduler.config.k8s.io/v1',
    kind: 'KubeSchedulerConfiguration',
    clientConnection: { kubeconfig: KUBECONFIG, qps: 300, burst: 600 },
    leaderElection: { leaderElect: false },
  }));
  return { audit, scheduler };
}

/** The metrics.k8s.io version metrics-server serves, as the aggregator names its APIService. */
export const METRICS_API_SERVICE = 'v1beta1.metrics.k8s.io';

/**
 * What registers metrics-server with the API server's aggregator, as kwokctl does it: an
 * APIService backed by an ExternalName Service. The aggregator resolves ExternalName Services
 * itself (host = externalName, port = the APIService's port), so neither Endpoints (which refuse
 * 127.0.0.1) nor kube-proxy are involved. It verifies metrics-server's certificate, issued for
 * metrics-server.kube-system.svc, against the cluster CA.
 */
function metricsApiRegistration(port: number): string {
  const labels = { 'app.kubernetes.io/name': 'metrics-server', 'app.kubernetes.io/part-of': 'local-control-plane' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'metrics-server', namespace: 'kube-system', labels },
      spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: METRICS_API_SERVICE, labels },
      spec: {
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        groupPriorityMinimum: 100,
        versionPriority: 100,
        service: { name: 'metrics-server', namespace: 'kube-system', port },
        caBundle: readFileSync(PKI.caCert).toString('base64'),
      },
    },
  ].map((o) => `---\n${stringify(o)}`).join('');
}

/** Retries a kubectl call that can race the API server's own start-up (kube-system appears late). */
async function retrying(what: string, fn: () => void, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fn();
      return;
    } catch (err) {
      if (Date.now() >= deadline) throw new Error(`${what}: ${String((err as { stderr?: string }).stderr ?? err)}`);
      await sleep(500);
    }
  }
}

function buildBinaries(progress: Progress): void {
  progress('checking control-plane binaries (first build: 20-30 minutes, progress below)');
  const result = spawnSync('bash', [path.join(ROOT, 'scripts', 'build-controlplane.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`scripts/build-controlplane.sh failed with exit code ${result.status}`);
}

export async function up(progress: Progress = defaultProgress): Promise<ClusterState> {
  if (await isUp()) {
    progress(`already up (${KUBECONFIG})`);
    return readState()!;
  }
  if (readState()) await down(progress);
  buildBinaries(progress);
  mkdirSync(CLUSTER_DIR, { recursive: true });
  ensurePki();

  const [etcd, etcdPeer, apiserver, controllerManager, scheduler, kwok, metricsServer] = await Promise.all(
    Array.from({ length: 7 }, freePort),
  ) as [number, number, number, number, number, number, number];
  const state: ClusterState = {
    server: `https://127.0.0.1:${apiserver}`,
    ports: { etcd, etcdPeer, apiserver, controllerManager, scheduler, kwok, metricsServer },
    processes: [],
  };
  const record = (proc: StartedProcess): StartedProcess => {
    state.processes.push(proc);
    writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
    return proc;
  };
  writeKubeconfig(KUBECONFIG, state.server);
  const files = writeConfigFiles();
  const urls = healthUrls(state);
  const started = Date.now();

  try {
    progress('starting etcd');
    const etcdProc = record(startDetached('etcd', binary('etcd'), [
      '--name=local', `--data-dir=${path.join(CLUSTER_DIR, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcd}`, `--advertise-client-urls=http://127.0.0.1:${etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=local=http://127.0.0.1:${etcdPeer}`,
      // A throwaway test cluster on a shared disk: durability is not worth the fsync latency.
      '--unsafe-no-fsync', '--quota-backend-bytes=4294967296', '--log-level=warn',
    ]));
    await waitFor('etcd', () => healthy(urls.etcd!.url), 30_000, etcdProc);

    progress('starting kube-apiserver');
    const apiProc = record(startDetached('kube-apiserver', binary('kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${etcd}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiserver}`,
      `--cert-dir=${path.join(CLUSTER_DIR, 'pki')}`,
      `--tls-cert-file=${PKI.apiserverCert}`, `--tls-private-key-file=${PKI.apiserverKey}`,
      `--client-ca-file=${PKI.caCert}`,
      // The aggregator (metrics.k8s.io) proxies to metrics-server with this client certificate and
      // passes the caller on in X-Remote-* headers, which metrics-server trusts only from it.
      `--proxy-client-cert-file=${PKI.frontProxyClientCert}`, `--proxy-client-key-file=${PKI.frontProxyClientKey}`,
      `--requestheader-client-ca-file=${PKI.frontProxyCaCert}`, `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
      '--requestheader-username-headers=X-Remote-User', '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${PKI.serviceAccountPub}`,
      `--service-account-signing-key-file=${PKI.serviceAccountKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      `--audit-policy-file=${files.audit}`, `--audit-log-path=${AUDIT_LOG}`,
      '--audit-log-format=json', '--audit-log-maxsize=200', '--audit-log-maxbackup=1',
      // The kubernetes Service would point at 127.0.0.1, which Endpoints refuse: nothing in this
      // cluster reaches the API server through it.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true', '--profiling=false', '--v=1',
    ]));
    await waitFor('kube-apiserver', () => healthy(urls['kube-apiserver']!.url, true), 90_000, apiProc);

    progress('starting kube-controller-manager, kube-scheduler, kwok and metrics-server');
    const componentAuth = [`--authentication-kubeconfig=${KUBECONFIG}`, `--authorization-kubeconfig=${KUBECONFIG}`];
    const kcm = record(startDetached('kube-controller-manager', binary('kube-controller-manager'), [
      `--kubeconfig=${KUBECONFIG}`, ...componentAuth,
      '--bind-address=127.0.0.1', `--secure-port=${controllerManager}`,
      '--leader-elect=false', '--use-service-account-credentials=false',
      `--service-account-private-key-file=${PKI.serviceAccountKey}`, `--root-ca-file=${PKI.caCert}`,
      '--kube-api-qps=300', '--kube-api-burst=600',
      '--concurrent-deployment-syncs=10', '--concurrent-replicaset-syncs=10', '--concurrent-gc-syncs=30',
      '--v=1',
    ]));
    const sched = record(startDetached('kube-scheduler', binary('kube-scheduler'), [
      `--config=${files.scheduler}`, ...componentAuth,
      '--bind-address=127.0.0.1', `--secure-port=${scheduler}`, '--v=1',
    ]));
    const kwokProc = record(startDetached('kwok', binary('kwok'), [
      `--kubeconfig=${KUBECONFIG}`, `--config=${binary('kwok-stages.yaml')}`,
      // The Metric (the kubelet's /metrics/resource per node) and the ClusterResourceUsage (pod
      // usage from the kwok.x-k8s.io/usage-cpu and -memory annotations) as static config, like
      // the stages, rather than as CRDs.
      `--config=${binary('kwok-metrics.yaml')}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--manage-nodes-with-label-selector=',
      // The heartbeat stage in use relies on node Leases; without them the node lifecycle
      // controller marks the nodes NotReady after 40 s and evicts readiness from their pods.
      '--node-lease-duration-seconds=40',
      // kwok is every fake node's kubelet: the nodes get InternalIP 127.0.0.1 and kwok's port as
      // their kubelet port, and kwok serves HTTPS there (next to HTTP) with a certificate for
      // 127.0.0.1, so metrics-server reaches it and verifies it.
      '--cidr=10.244.0.1/16', '--node-ip=127.0.0.1', `--node-port=${kwok}`,
      `--tls-cert-file=${PKI.kwokCert}`, `--tls-private-key-file=${PKI.kwokKey}`,
      `--server-address=127.0.0.1:${kwok}`,
    ]));
    const metricsProc = record(startDetached('metrics-server', binary('metrics-server'), [
      `--kubeconfig=${KUBECONFIG}`, ...componentAuth,
      '--bind-address=127.0.0.1', `--secure-port=${metricsServer}`,
      `--tls-cert-file=${PKI.metricsServerCert}`, `--tls-private-key-file=${PKI.metricsServerKey}`,
      '--kubelet-preferred-address-types=InternalIP', '--kubelet-use-node-status-port',
      `--kubelet-certificate-authority=${PKI.caCert}`,
      // The shortest resolution metrics-server accepts; the scrape timeout must stay under 90 % of it.
      '--metric-resolution=10s', '--kubelet-request-timeout=5s',
    ]));
    await Promise.all([
      waitFor('kube-controller-manager', () => healthy(urls['kube-controller-manager']!.url), 60_000, kcm),
      waitFor('kube-scheduler', () => healthy(urls['kube-scheduler']!.url), 60_000, sched),
      waitFor('kwok', () => healthy(urls.kwok!.url), 60_000, kwokProc),
      waitFor('metrics-server', () => healthy(urls['metrics-server']!.url, true), 60_000, metricsProc),
    ]);
    await retrying('registering the metrics API', () => kubectl(['apply', '-f', '-'], metricsApiRegistration(metricsServer)));

    progress('creating fake nodes (2 cpu, 1 gpu)');
    kubectl(['apply', '-f', '-'], fakeNodes().map((n) => `---\n${stringify(n)}`).join(''));
    kubectl(['wait', '--for=condition=Ready', 'node', '--all', '--timeout=60s']);
    // Available once the aggregator reaches metrics-server. A pod's first PodMetrics take three
    // scrapes (10 s apart): kwok's first CPU counter sample is 0, which metrics-server drops, and
    // the rate needs two more.
    kubectl(['wait', '--for=condition=Available', `apiservice/${METRICS_API_SERVICE}`, '--timeout=60s']);
    progress(`up in ${((Date.now() - started) / 1000).toFixed(1)} s; KUBECONFIG=${KUBECONFIG}`);
    return state;
  } catch (err) {
    progress(`start-up failed, stopping what was started: ${(err as Error).message}`);
    await down(() => {});
    throw err;
  }
}

export async function down(progress: Progress = defaultProgress): Promise<void> {
  const state = readState();
  if (!state) {
    progress('not running');
    return;
  }
  for (const proc of [...state.processes].reverse()) {
    progress(`stopping ${proc.name} (pid ${proc.pid})`);
    await stopProcess(proc);
  }
  rmSync(path.join(CLUSTER_DIR, 'etcd'), { recursive: true, force: true });
  rmSync(STATE_FILE, { force: true });
  progress('down');
}

/**
 * Stops one component and starts it again with the same flags and ports (for fault tests: an API
 * server restart drops every watch and connection). `crash` kills it with SIGKILL instead of a
 * graceful stop, which for kube-apiserver waits on open watches. Resolves once it is healthy.
 */
export async function restartComponent(name: keyof ReturnType<typeof healthUrls>, { downtimeMs = 0, crash = false } = {}): Promise<void> {
  const state = readState();
  const index = state?.processes.findIndex((p) => p.name === name) ?? -1;
  if (!state || index < 0) throw new Error(`${name} is not running`);
  const old = state.processes[index]!;
  await stopProcess(old, 10_000, crash ? 'SIGKILL' : 'SIGTERM');
  if (downtimeMs > 0) await sleep(downtimeMs);
  const proc = startDetached(old.name, old.binary, old.args);
  state.processes[index] = proc;
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  const check = healthUrls(state)[name]!;
  await waitFor(name, () => healthy(check.url, check.admin), 90_000, proc);
}
