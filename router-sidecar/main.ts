// The router sidecar's command line: flags or environment, then startRouterApp; SIGTERM drains.
import { parseArgs } from 'node:util';
import { createLogger, errorMessage } from '../common/logger.js';
import { seededRandom } from '../common/random.js';
import { DEFAULT_OVERLOAD_DELAY_MS, startRouterApp } from './app.js';

const USAGE = `Usage: router-sidecar --config <router.json> [options]
  --config <file>            router configuration (env ROUTER_CONFIG)
  --host <addr>              listen address (env HOST; default 0.0.0.0)
  --port <n>                 listen port (env PORT; default 8080; 0 picks a free one)
  --admin-host <addr>        admin listen address (env ADMIN_HOST; default 127.0.0.1: reach it with kubectl port-forward)
  --admin-port <n>           admin listen port, never the inference port (env ADMIN_PORT; default 8081; 0 picks a free one)
  --shutdown-delay-ms <n>    on SIGTERM, how long readiness fails while requests are still served, before the
                             listener closes (env SHUTDOWN_DELAY_MS; default 0; the operator sets 5000)
  --models-root <dir>        local folder standing in for the images' /models/ (env MODELS_ROOT)
  --max-in-flight <n>        requests in flight per variant before it counts as saturated (env MAX_IN_FLIGHT; default 64)
  --attempt-timeout-floor-ms <n>
                             the shortest wait for a variant before the next-best one is tried; an attempt
                             otherwise waits 4x the variant's p99 within the SLA (env ATTEMPT_TIMEOUT_FLOOR_MS;
                             default 20)
  --body-limit-bytes <n>     largest request body (env BODY_LIMIT_BYTES; default 4194304)
  --overload-delay-ms <n>    while the router's event loop runs this many ms late on average (100 ms windows,
                             two in a row), it refuses a growing share of new requests with 429 + Retry-After
                             instead of letting every request queue past its deadline; 0 = off
                             (env OVERLOAD_DELAY_MS; default 0: off; 10 is the measured setting)
  --watch-interval-ms <n>    how often the config file is checked for changes, 0 = never (env WATCH_INTERVAL_MS; default 1000)
  --seed <n>                 seed the router's sampling (which cache hits the drift agent checks) so runs
                             repeat exactly (env ROUTER_SEED; default: unseeded)
  --kubeconfig <file>        report cache actions to this cluster (Events, cache-state annotation) and read
                             the variants' pod CPU from metrics.k8s.io; in a pod the in-cluster
                             credentials are used without this flag
  --pod-cpu-interval-ms <n>  how often pod CPU is read from metrics.k8s.io (env POD_CPU_INTERVAL_MS; default 15000)
  ADMIN_TOKEN (env only)     enables /admin/* on the admin port for "Authorization: Bearer <token>"`;

class UsageError extends Error {}

function integer(value: string | undefined, field: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`${field} must be an integer >= ${min}, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info', { component: 'router' });
  let options;
  try {
    const { values } = parseArgs({
      options: {
        config: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'admin-host': { type: 'string' },
        'admin-port': { type: 'string' },
        'shutdown-delay-ms': { type: 'string' },
        'models-root': { type: 'string' },
        'max-in-flight': { type: 'string' },
        'attempt-timeout-floor-ms': { type: 'string' },
        'body-limit-bytes': { type: 'string' },
        'watch-interval-ms': { type: 'string' },
        'overload-delay-ms': { type: 'string' },
        kubeconfig: { type: 'string' },
        'pod-cpu-interval-ms': { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    const configPath = values.config ?? process.env.ROUTER_CONFIG;
    if (!configPath) throw new UsageError('--config (or ROUTER_CONFIG) is required');
    const port = values.port ?? process.env.PORT;
    const adminPort = values['admin-port'] ?? process.env.ADMIN_PORT;
    if ((port ?? '8080') === (adminPort ?? '8081') && port !== '0') {
      throw new UsageError(`--admin-port (or ADMIN_PORT) must differ from --port: admin endpoints are never served on the inference port`);
    }
    const modelsRoot = values['models-root'] ?? process.env.MODELS_ROOT;
    const seedText = values.seed ?? process.env.ROUTER_SEED;
    options = {
      configPath,
      host: values.host ?? process.env.HOST ?? '0.0.0.0',
      port: integer(values.port ?? process.env.PORT, '--port (or PORT)', 8080, 0),
      adminHost: values['admin-host'] ?? process.env.ADMIN_HOST ?? '127.0.0.1',
      adminPort: integer(values['admin-port'] ?? process.env.ADMIN_PORT, '--admin-port (or ADMIN_PORT)', 8081, 0),
      shutdownDelayMs: integer(values['shutdown-delay-ms'] ?? process.env.SHUTDOWN_DELAY_MS, '--shutdown-delay-ms (or SHUTDOWN_DELAY_MS)', 0, 0),
      maxInFlightPerVariant: integer(values['max-in-flight'] ?? process.env.MAX_IN_FLIGHT, '--max-in-flight (or MAX_IN_FLIGHT)', 64, 1),
      attemptTimeoutFloorMs: integer(values['attempt-timeout-floor-ms'] ?? process.env.ATTEMPT_TIMEOUT_FLOOR_MS, '--attempt-timeout-floor-ms (or ATTEMPT_TIMEOUT_FLOOR_MS)', 20, 1),
      bodyLimitBytes: integer(values['body-limit-bytes'] ?? process.env.BODY_LIMIT_BYTES, '--body-limit-bytes (or BODY_LIMIT_BYTES)', 4 * 1024 * 1024, 1024),
      podCpuIntervalMs: integer(values['pod-cpu-interval-ms'] ?? process.env.POD_CPU_INTERVAL_MS, '--pod-cpu-interval-ms (or POD_CPU_INTERVAL_MS)', 15_000, 100),
      overloadDelayMs: integer(values['overload-delay-ms'] ?? process.env.OVERLOAD_DELAY_MS, '--overload-delay-ms (or OVERLOAD_DELAY_MS)', DEFAULT_OVERLOAD_DELAY_MS, 0),
      watchIntervalMs: integer(values['watch-interval-ms'] ?? process.env.WATCH_INTERVAL_MS, '--watch-interval-ms (or WATCH_INTERVAL_MS)', 1000, 0),
      ...(modelsRoot ? { modelsRoot } : {}),
      ...(seedText !== undefined ? { random: seededRandom(integer(seedText, '--seed (or ROUTER_SEED)', 0, 0)).next } : {}),
      ...(process.env.ADMIN_TOKEN ? { adminToken: process.env.ADMIN_TOKEN } : {}),
      ...(values.kubeconfig ? { kube: { kubeconfig: values.kubeconfig } } : process.env.KUBERNETES_SERVICE_HOST ? { kube: {} } : {}),
      logger,
    };
  } catch (error) {
    process.stderr.write(`router-sidecar: ${errorMessage(error)}\n${USAGE}\n`);
    process.exit(2);
  }
  let app;
  try {
    app = await startRouterApp(options);
  } catch (error) {
    logger.error('router failed to start', { error: errorMessage(error) });
    process.exit(2);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info('draining', { signal });
    app.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('drain failed', { error: errorMessage(error) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
