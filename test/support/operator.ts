// Runs the real operator (operator/main.ts) as a child process, the way `npm run operator` does.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from '../../scripts/cluster/paths.js';
import { OPERATOR_NAMESPACE } from './cluster.js';

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  probePort: number;
  logs: Record<string, unknown>[];
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no cleanup, no lease release. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
  metrics(): Promise<string>;
}

export interface OperatorOptions {
  kubeconfig: string;
  identity: string;
  leaseDurationSeconds?: number;
  leaderElect?: boolean;
  extraArgs?: string[];
  /** Run the compiled operator (npm run build) with these Node flags, as the shipped image does. */
  compiled?: { nodeFlags: string[] };
}

export async function startOperator({ kubeconfig, identity, leaseDurationSeconds = 4, leaderElect = true, extraArgs = [], compiled }: OperatorOptions): Promise<OperatorProcess> {
  const entry = compiled
    ? [...compiled.nodeFlags, path.join(ROOT, 'dist', 'operator', 'main.js')]
    : ['--import', 'tsx', path.join(ROOT, 'operator', 'main.ts')];
  const child = spawn(process.execPath, [
    ...entry,
    `--kubeconfig=${kubeconfig}`, `--identity=${identity}`, `--namespace=${OPERATOR_NAMESPACE}`,
    '--health-probe-bind-address=127.0.0.1:0', `--leader-elect=${leaderElect}`,
    `--lease-duration-seconds=${leaseDurationSeconds}`, '--log-level=debug', ...extraArgs,
  ], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const probePort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`operator ${identity} did not start within 30 s:\n${JSON.stringify(logs.slice(-10))}`)), 30_000);
    createInterface(child.stderr!).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { message: line };
      }
      logs.push(entry);
      if (process.env.OPERATOR_LOGS === '1') process.stderr.write(`      [${identity}] ${line}\n`);
      if (entry.message === 'probe server listening') {
        clearTimeout(timer);
        resolve(entry.port as number);
      }
    });
    void exited.then((code) => reject(new Error(`operator ${identity} exited with ${code}:\n${JSON.stringify(logs.slice(-10))}`)));
  });
  return {
    child, identity, probePort, logs, exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async metrics() {
      try {
        const res = await fetch(`http://127.0.0.1:${probePort}/metrics`);
        return await res.text();
      } catch (error) {
        // Say why: a refused connection usually means the operator exited; show how and its last logs.
        throw new Error(`operator ${identity} /metrics: ${(error as Error).message} (exit code ${child.exitCode}, signal ${child.signalCode}); last logs:\n${JSON.stringify(logs.slice(-10))}`);
      }
    },
  };
}

/** Reads one sample from a Prometheus text exposition, summing over matching label sets. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) total += Number(match[3]);
  }
  return total;
}
