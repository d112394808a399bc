// CLI: npm run variant-server -- --model models/digits/distilled [--port 8080] [--batching] ...
// Exit codes: 0 after a clean drain, 2 for bad flags, environment or model files, 1 otherwise.
import { createLogger, errorMessage } from '../common/logger.js';
import { ConfigError, parseConfig, USAGE } from './config.js';
import { DeviceError } from './execution-provider.js';
import { ModelLoadError } from './runtime.js';
import { startVariantServer } from './server.js';

function fail(message: string, code: number): never {
  process.stderr.write(`variant-server: ${message}\n`);
  process.exit(code);
}

let config;
try {
  config = parseConfig(process.argv.slice(2), process.env);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message, 2);
  throw error;
}
if (config === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}

const logger = createLogger(config.logLevel, { component: 'variant-server' });
let server;
try {
  server = await startVariantServer({ ...config, logger });
} catch (error) {
  const badInput = error instanceof ModelLoadError || error instanceof DeviceError || error instanceof ConfigError;
  logger.error('variant server failed to start', { model: config.model, error: errorMessage(error) });
  fail(badInput ? `--model (or MODEL_URI) "${config.model}": ${errorMessage(error)}` : errorMessage(error), badInput ? 2 : 1);
}

const running = server;
let signals = 0;
const stop = (signal: NodeJS.Signals): void => {
  signals += 1;
  if (signals > 1) {
    logger.warn('second signal; exiting without finishing the drain', { signal });
    process.exit(1);
  }
  logger.info('signal received', { signal });
  running.close().then(
    (drained) => process.exit(drained ? 0 : 1),
    (error: unknown) => {
      logger.error('shutdown failed', { error: errorMessage(error) });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
