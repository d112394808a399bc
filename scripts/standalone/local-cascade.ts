// Runs a cascade with no cluster: the four variant servers and the router as local processes on
// 127.0.0.1, configured from an InferenceCascade manifest the way the operator would configure
// them in a cluster (the images' /models/ is the repo's models/ folder here).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import type { RouterConfig } from '../../crds/router-config.js';
import { ROLES, variantName, type InferenceCascade, type Role } from '../../crds/types.js';
import { defaultBuildOptions } from '../../operator/desired/index.js';
import { routerConfig } from '../../operator/desired/router.js';
import { localModelPath } from '../../router-sidecar/local-models.js';
import { ROOT } from '../cluster/paths.js';

export const MODELS_ROOT = path.join(ROOT, 'models');

export interface LocalProcess {
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
  args: string[];
}

export interface LocalCascade {
  cascade: InferenceCascade;
  config: RouterConfig;
  configPath: string;
  router: LocalProcess;
  variants: Record<Role, LocalProcess>;
  /** The router's admin port (127.0.0.1), where /admin/* is served with `adminToken`. */
  adminUrl: string;
  adminToken: string;
  /** SIGKILLs a variant (as a crashed pod). */
  kill(role: Role): Promise<void>;
  /** Starts a killed variant again on the same port and waits until it is ready. */
  restart(role: Role): Promise<void>;
  /** Rewrites router.json; the router notices and reloads. */
  writeConfig(change: (config: RouterConfig) => void): void;
  stop(): Promise<void>;
}

export interface LocalCascadeOptions {
  cascadeFile: string;
  /** Cache settings etc. changed before the router starts. */
  adjust?: (config: RouterConfig) => void;
  workDir?: string;
  batching?: boolean;
  /** The cascade's namespace in the router config (default: the manifest's, else "default"). */
  namespace?: string;
  /** Extra router flags, e.g. ['--body-limit-bytes', '65536']. */
  routerFlags?: string[];
  /** Extra flags for every variant server, e.g. ['--body-limit-bytes', '4096']. */
  variantFlags?: string[];
  /** Node flags for every process, e.g. ['--inspect=127.0.0.1:0'] (the inspector's URL goes to its log). */
  nodeFlags?: string[];
  log?: (message: string) => void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 2xx; fails early if the child exits. */
export async function waitReady(url: string, child: ChildProcess, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} while starting`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${name} was not ready within ${timeoutMs} ms (${url})`);
}

const liveChildren = new Set<ChildProcess>();
let stopsChildrenOnSignals = false;

/**
 * Node exits on SIGINT or SIGTERM without running any cleanup, which would leave every server a
 * runner (evaluate, a bench, the demo, a test) started still running: kill them first.
 */
function stopChildrenOnSignals(): void {
  if (stopsChildrenOnSignals) return;
  stopsChildrenOnSignals = true;
  for (const [signal, exitCode] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      for (const child of liveChildren) child.kill('SIGKILL');
      process.exit(exitCode);
    });
  }
}

/** A repo script under Node + tsx, its stderr appended to `logFile`; killed if this process is interrupted. */
export function spawnNode(script: string, args: string[], logFile: string, stdout: 'ignore' | 'pipe' = 'ignore', nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', path.join(ROOT, script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', stdout, 'pipe'],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
  });
  child.stderr!.pipe(createWriteStream(logFile, { flags: 'a' }));
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  stopChildrenOnSignals();
  return child;
}

export function readCascade(file: string): InferenceCascade {
  const cascade = parse(readFileSync(file, 'utf8')) as InferenceCascade;
  cascade.metadata.namespace ??= 'default';
  return cascade;
}

export async function startLocalCascade(options: LocalCascadeOptions): Promise<LocalCascade> {
  const log = options.log ?? (() => undefined);
  const cascade = readCascade(options.cascadeFile);
  if (options.namespace) cascade.metadata.namespace = options.namespace;
  const workDir = options.workDir ?? path.join(ROOT, '.cache', 'local-cascade', `${cascade.metadata.name}-${process.pid}-${Date.now()}`);
  mkdirSync(workDir, { recursive: true });
  const variants = {} as Record<Role, LocalProcess>;
  const startVariant = (process: Omit<LocalProcess, 'child'>): LocalProcess => ({
    ...process,
    child: spawnNode('variant-server/main.ts', process.args, path.join(workDir, `${process.name}.log`), 'ignore', options.nodeFlags),
  });
  for (const spec of cascade.spec.variants) {
    const model = localModelPath(spec.model.uri, MODELS_ROOT);
    if (!model) throw new Error(`variant ${spec.role}: model ${spec.model.uri} is not under ${MODELS_ROOT}`);
    const port = await freePort();
    const name = variantName(spec);
    const args = ['--model', model, '--name', name, '--host', '127.0.0.1', '--port', String(port), ...(options.batching ? ['--batching'] : []), ...(options.variantFlags ?? [])];
    variants[spec.role] = startVariant({ name: `variant-${spec.role}`, port, url: `http://127.0.0.1:${port}`, args });
  }
  const killStarted = () => {
    for (const process of Object.values(variants)) process.child.kill('SIGKILL');
  };
  await Promise.all(ROLES.map((role) => waitReady(`${variants[role].url}/v2/health/ready`, variants[role].child, variants[role].name))).catch((error: unknown) => {
    killStarted();
    throw error;
  });
  log(`variant servers ready on ports ${ROLES.map((role) => `${role} ${variants[role].port}`).join(', ')}`);

  // What the operator would render into the router's ConfigMap, pointed at the local servers.
  const rendered = routerConfig(cascade, defaultBuildOptions);
  const config: RouterConfig = { ...rendered, variants: rendered.variants.map((variant) => ({ ...variant, endpoint: variants[variant.role].url })) };
  options.adjust?.(config);
  const configPath = path.join(workDir, 'router.json');
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const routerPort = await freePort();
  const adminPort = await freePort();
  const adminToken = `demo-${process.pid}-${Date.now()}`;
  const routerArgs = [
    '--config', configPath, '--host', '127.0.0.1', '--port', String(routerPort), '--admin-port', String(adminPort),
    '--models-root', MODELS_ROOT, '--watch-interval-ms', '200', ...(options.routerFlags ?? []),
  ];
  process.env.ADMIN_TOKEN = adminToken;
  const router: LocalProcess = {
    name: 'router',
    port: routerPort,
    url: `http://127.0.0.1:${routerPort}`,
    args: routerArgs,
    child: spawnNode('router-sidecar/main.ts', routerArgs, path.join(workDir, 'router.log'), 'ignore', options.nodeFlags),
  };
  delete process.env.ADMIN_TOKEN;
  await waitReady(`${router.url}/readyz`, router.child, 'router').catch((error: unknown) => {
    killStarted();
    router.child.kill('SIGKILL');
    throw error;
  });
  log(`router ready on port ${routerPort} (logs in ${path.relative(ROOT, workDir)}/)`);

  const stopProcess = async (child: ChildProcess, signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  return {
    cascade,
    config,
    configPath,
    router,
    variants,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    adminToken,
    async kill(role) {
      await stopProcess(variants[role].child, 'SIGKILL');
    },
    async restart(role) {
      const previous = variants[role];
      variants[role] = startVariant({ name: previous.name, port: previous.port, url: previous.url, args: previous.args });
      await waitReady(`${previous.url}/v2/health/ready`, variants[role].child, previous.name);
    },
    writeConfig(change) {
      change(config);
      writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
    },
    async stop() {
      await stopProcess(router.child, 'SIGTERM');
      await Promise.all(ROLES.map((role) => stopProcess(variants[role].child, 'SIGTERM')));
    },
  };
}
