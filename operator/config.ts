// The operator's flags, read once here (with environment fallbacks for in-cluster use) and passed
// down. A bad value stops start-up with an error that names the flag.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { defaultBuildOptions, type BuildOptions } from './desired/index.js';

export interface OperatorConfig {
  kubeconfig?: string;
  namespace: string;
  identity: string;
  leaderElect: boolean;
  leaseName: string;
  leaseDurationSeconds: number;
  workers: number;
  probeHost: string;
  probePort: number;
  logLevel: string;
  resyncPeriodSeconds: number;
  watchdogSeconds: number;
  shutdownTimeoutSeconds: number;
  build: BuildOptions;
}

export class ConfigError extends Error {}

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];

function integer(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${flag} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

function hostPort(flag: string, value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) throw new ConfigError(`--${flag} must be host:port (e.g. 0.0.0.0:8081), got "${value}"`);
  return { host: match[1] || '0.0.0.0', port: integer(flag, match[2], 0, 0, 65535) };
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        identity: { type: 'string' },
        'leader-elect': { type: 'string' },
        'lease-name': { type: 'string' },
        'lease-duration-seconds': { type: 'string' },
        workers: { type: 'string' },
        'health-probe-bind-address': { type: 'string' },
        'log-level': { type: 'string' },
        'resync-period-seconds': { type: 'string' },
        'watchdog-seconds': { type: 'string' },
        'shutdown-timeout-seconds': { type: 'string' },
        'variant-image': { type: 'string' },
        'router-image': { type: 'string' },
        'router-cluster-role': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const leaderElect = values['leader-elect'] ?? 'true';
  if (leaderElect !== 'true' && leaderElect !== 'false') throw new ConfigError(`--leader-elect must be true or false, got "${leaderElect}"`);
  const logLevel = values['log-level'] ?? env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const probe = hostPort('health-probe-bind-address', values['health-probe-bind-address'] ?? '0.0.0.0:8081');
  const kubeconfig = values.kubeconfig ?? env.KUBECONFIG;
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    namespace: values.namespace ?? env.POD_NAMESPACE ?? 'inference-cascade-system',
    identity: values.identity ?? env.POD_NAME ?? `${os.hostname()}-${process.pid}`,
    leaderElect: leaderElect === 'true',
    leaseName: values['lease-name'] ?? 'inference-cascade-operator',
    leaseDurationSeconds: integer('lease-duration-seconds', values['lease-duration-seconds'], 15, 2, 300),
    workers: integer('workers', values.workers, 4, 1, 64),
    probeHost: probe.host,
    probePort: probe.port,
    logLevel,
    resyncPeriodSeconds: integer('resync-period-seconds', values['resync-period-seconds'], 600, 10, 86400),
    watchdogSeconds: integer('watchdog-seconds', values['watchdog-seconds'], 300, 5, 86400),
    shutdownTimeoutSeconds: integer('shutdown-timeout-seconds', values['shutdown-timeout-seconds'], 20, 1, 600),
    build: {
      ...defaultBuildOptions,
      variantImage: values['variant-image'] ?? defaultBuildOptions.variantImage,
      routerImage: values['router-image'] ?? defaultBuildOptions.routerImage,
      routerClusterRole: values['router-cluster-role'] ?? defaultBuildOptions.routerClusterRole,
    },
  };
}
