// Command line flags and environment variables -> server options. Pure: no I/O, so every bad value
// can be tested without starting anything. A flag wins over its environment variable.
import { parseArgs } from 'node:util';
import { DeviceError, parseDeviceRequest, type DeviceRequest } from './execution-provider.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ServerConfig {
  model: string;
  name?: string;
  port: number;
  host: string;
  batching: boolean;
  batchWindowMs: number;
  maxBatch: number;
  maxQueued: number;
  bodyLimitBytes: number;
  device: DeviceRequest;
  logLevel: string;
  drainTimeoutMs: number;
  shutdownDelayMs: number;
}

export const DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  batchWindowMs: 0,
  maxBatch: 32,
  maxQueued: 1024,
  // 8x the router's default (4 MiB): the router forwards a request's values re-encoded from FP32,
  // e.g. 0.1 as 0.10000000149011612, up to ~5x the bytes the client sent, so a body the router
  // accepted must still fit here.
  bodyLimitBytes: 32 * 1024 * 1024,
  logLevel: 'info',
  drainTimeoutMs: 20_000,
  shutdownDelayMs: 0,
} as const;

const FLAGS = {
  model: 'MODEL_URI',
  name: 'MODEL_NAME',
  port: 'PORT',
  host: 'HOST',
  batching: 'BATCHING',
  'batch-window-ms': 'BATCH_WINDOW_MS',
  'max-batch': 'MAX_BATCH',
  'max-queued': 'MAX_QUEUED',
  'body-limit-bytes': 'BODY_LIMIT_BYTES',
  device: 'DEVICE',
  'log-level': 'LOG_LEVEL',
  'drain-timeout-ms': 'DRAIN_TIMEOUT_MS',
  'shutdown-delay-ms': 'SHUTDOWN_DELAY_MS',
} as const;

type Flag = keyof typeof FLAGS;

export const USAGE = `Usage: variant-server --model <dir | file:// URI> [options]

  --model <path|uri>         model directory with encoder.onnx, head.onnx, card.json (env MODEL_URI)
  --name <name>              model name served under /v2/models (env MODEL_NAME; default <workload>-<role>)
  --port <n>                 TCP port, 0 = random (env PORT; default ${DEFAULTS.port})
  --host <addr>              listen address (env HOST; default ${DEFAULTS.host})
  --batching[=true|false]    dynamic batching of concurrent requests (env BATCHING; default false)
  --batch-window-ms <ms>     how long a batch waits for more requests while the model is idle (env BATCH_WINDOW_MS; default ${DEFAULTS.batchWindowMs})
  --max-batch <rows>         most rows in one batch (env MAX_BATCH; default ${DEFAULTS.maxBatch})
  --max-queued <requests>    requests waiting for the model beyond which new ones get 429 with Retry-After (env MAX_QUEUED; default ${DEFAULTS.maxQueued})
  --body-limit-bytes <n>     largest request body (env BODY_LIMIT_BYTES; default ${DEFAULTS.bodyLimitBytes})
  --device auto|cpu|cuda     execution provider choice (env DEVICE; default auto)
  --log-level <level>        error, warn, info or debug (env LOG_LEVEL; default ${DEFAULTS.logLevel})
  --shutdown-delay-ms <ms>   on SIGTERM, how long readiness fails while requests are still served, before the
                             listener closes (env SHUTDOWN_DELAY_MS; default ${DEFAULTS.shutdownDelayMs}; the operator sets 5000)
  --drain-timeout-ms <ms>    then the longest wait for in-flight requests (env DRAIN_TIMEOUT_MS; default ${DEFAULTS.drainTimeoutMs})
`;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Model names appear in URL paths and the ".encoder"/".head" suffixes address the sub-graphs. */
export function validateModelName(name: string, field: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new ConfigError(
      `${field} must be 1-128 characters of letters, digits, "_", "-" or ".", starting with a letter or digit; got "${name}"`,
    );
  }
  if (name.endsWith('.encoder') || name.endsWith('.head')) {
    throw new ConfigError(`${field} must not end in ".encoder" or ".head" (those suffixes address the sub-graphs); got "${name}"`);
  }
  return name;
}

/** `--batching` alone means true; `--no-batching` means false. */
function normalizeArgv(argv: readonly string[]): string[] {
  return argv.map((arg) => (arg === '--batching' ? '--batching=true' : arg === '--no-batching' ? '--batching=false' : arg));
}

export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServerConfig | 'help' {
  let values: Partial<Record<Flag | 'help', string | boolean>>;
  try {
    const options = Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: 'string' as const }]));
    ({ values } = parseArgs({
      args: normalizeArgv(argv),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message.split('\n')[0]}\n${USAGE}`);
  }
  if (values.help) return 'help';

  const read = (flag: Flag): { value: string; field: string } | undefined => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return { value: fromFlag, field: `--${flag}` };
    const fromEnv = env[FLAGS[flag]];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, field: FLAGS[flag] };
    return undefined;
  };
  const integer = (flag: Flag, fallback: number, min: number, max: number): number => {
    const raw = read(flag);
    if (!raw) return fallback;
    const n = Number(raw.value);
    if (!/^\d+$/.test(raw.value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${raw.field} must be an integer from ${min} to ${max}; got "${raw.value}"`);
    }
    return n;
  };

  const model = read('model');
  if (!model || model.value.trim() === '')
    throw new ConfigError(`--model (or MODEL_URI) is required: a model directory or file:// URI\n${USAGE}`);
  const name = read('name');

  const batchingRaw = read('batching');
  let batching = false;
  if (batchingRaw) {
    const v = batchingRaw.value.toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes' || v === 'on') batching = true;
    else if (v === 'false' || v === '0' || v === 'no' || v === 'off') batching = false;
    else throw new ConfigError(`${batchingRaw.field} must be true or false; got "${batchingRaw.value}"`);
  }

  const windowRaw = read('batch-window-ms');
  let batchWindowMs: number = DEFAULTS.batchWindowMs;
  if (windowRaw) {
    batchWindowMs = Number(windowRaw.value);
    if (windowRaw.value.trim() === '' || !Number.isFinite(batchWindowMs) || batchWindowMs < 0 || batchWindowMs > 1000) {
      throw new ConfigError(`${windowRaw.field} must be a number of milliseconds from 0 to 1000; got "${windowRaw.value}"`);
    }
  }

  const hostRaw = read('host');
  if (hostRaw && /\s/.test(hostRaw.value)) throw new ConfigError(`${hostRaw.field} must be a host name or address; got "${hostRaw.value}"`);

  const deviceRaw = read('device');
  let device: DeviceRequest;
  try {
    device = parseDeviceRequest(deviceRaw?.value, deviceRaw?.field ?? '--device');
  } catch (error) {
    if (error instanceof DeviceError) throw new ConfigError(error.message);
    throw error;
  }

  const levelRaw = read('log-level');
  const logLevel = levelRaw?.value ?? DEFAULTS.logLevel;
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) {
    throw new ConfigError(`${levelRaw?.field ?? '--log-level'} must be one of error, warn, info, debug; got "${logLevel}"`);
  }

  return {
    model: model.value,
    ...(name ? { name: validateModelName(name.value, name.field) } : {}),
    port: integer('port', DEFAULTS.port, 0, 65535),
    host: hostRaw?.value ?? DEFAULTS.host,
    batching,
    batchWindowMs,
    maxBatch: integer('max-batch', DEFAULTS.maxBatch, 1, 4096),
    maxQueued: integer('max-queued', DEFAULTS.maxQueued, 1, 1_000_000),
    bodyLimitBytes: integer('body-limit-bytes', DEFAULTS.bodyLimitBytes, 1024, 1024 * 1024 * 1024),
    device,
    logLevel,
    drainTimeoutMs: integer('drain-timeout-ms', DEFAULTS.drainTimeoutMs, 0, 3_600_000),
    shutdownDelayMs: integer('shutdown-delay-ms', DEFAULTS.shutdownDelayMs, 0, 3_600_000),
  };
}
