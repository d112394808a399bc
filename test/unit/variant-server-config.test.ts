import assert from 'node:assert/strict';
import { ConfigError, DEFAULTS, parseConfig, validateModelName } from '../../variant-server/config.js';

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const config = parseConfig(argv, env);
  assert.notEqual(config, 'help');
  return config as Exclude<typeof config, 'help'>;
};

const rejects = (argv: string[], env: Record<string, string>, pattern: RegExp): void => {
  assert.throws(
    () => parseConfig(argv, env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    },
  );
};

describe('variant server config', () => {
  it('applies defaults when only the model is given', () => {
    assert.deepEqual(parse(['--model', 'models/digits/distilled']), {
      model: 'models/digits/distilled',
      port: DEFAULTS.port,
      host: DEFAULTS.host,
      batching: false,
      batchWindowMs: 0,
      maxBatch: 32,
      maxQueued: 1024,
      bodyLimitBytes: 32 * 1024 * 1024,
      device: 'auto',
      logLevel: 'info',
      drainTimeoutMs: 20_000,
      shutdownDelayMs: 0,
    });
  });

  it('reads the environment and lets flags win over it', () => {
    const env = {
      MODEL_URI: 'file:///m',
      PORT: '9000',
      BATCHING: 'true',
      MAX_BATCH: '16',
      BATCH_WINDOW_MS: '0.5',
      MODEL_NAME: 'env-name',
      DEVICE: 'cpu',
    };
    const fromEnv = parse([], env);
    assert.equal(fromEnv.model, 'file:///m');
    assert.equal(fromEnv.port, 9000);
    assert.equal(fromEnv.batching, true);
    assert.equal(fromEnv.maxBatch, 16);
    assert.equal(fromEnv.batchWindowMs, 0.5);
    assert.equal(fromEnv.name, 'env-name');
    assert.equal(fromEnv.device, 'cpu');
    const fromFlags = parse(['--model=/x', '--port', '0', '--no-batching', '--name', 'flag-name'], env);
    assert.equal(fromFlags.model, '/x');
    assert.equal(fromFlags.port, 0);
    assert.equal(fromFlags.batching, false);
    assert.equal(fromFlags.name, 'flag-name');
  });

  it('accepts --batching alone and --batching=false', () => {
    assert.equal(parse(['--model', 'm', '--batching']).batching, true);
    assert.equal(parse(['--model', 'm', '--batching=false']).batching, false);
  });

  it('returns help for --help', () => {
    assert.equal(parseConfig(['--help'], {}), 'help');
  });

  it('names the field of every bad value', () => {
    rejects([], {}, /--model \(or MODEL_URI\) is required/);
    rejects(['--model', 'm', '--port', 'abc'], {}, /--port must be an integer from 0 to 65535; got "abc"/);
    rejects(['--model', 'm'], { PORT: '70000' }, /^PORT must be an integer/);
    rejects(['--model', 'm', '--port', '80.5'], {}, /--port must be an integer/);
    rejects(['--model', 'm'], { BATCHING: 'maybe' }, /BATCHING must be true or false; got "maybe"/);
    rejects(['--model', 'm', '--batch-window-ms=-1'], {}, /--batch-window-ms must be a number of milliseconds/);
    rejects(['--model', 'm', '--max-batch', '0'], {}, /--max-batch must be an integer from 1/);
    rejects(['--model', 'm', '--max-queued', '0'], {}, /--max-queued must be an integer from 1 to 1000000; got "0"/);
    rejects(['--model', 'm'], { MAX_QUEUED: 'many' }, /^MAX_QUEUED must be an integer/);
    rejects(['--model', 'm', '--body-limit-bytes', '10'], {}, /--body-limit-bytes must be an integer from 1024/);
    rejects(['--model', 'm', '--device', 'tpu'], {}, /--device must be one of auto, cpu, cuda; got "tpu"/);
    rejects(['--model', 'm'], { DEVICE: 'gpu' }, /DEVICE must be one of auto, cpu, cuda/);
    rejects(['--model', 'm', '--log-level', 'loud'], {}, /--log-level must be one of/);
    rejects(['--model', 'm', '--name', 'has space'], {}, /--name must be 1-128 characters/);
    rejects(['--model', 'm', '--name', 'x.encoder'], {}, /--name must not end in "\.encoder"/);
    rejects(['--model', 'm', '--bogus'], {}, /Unknown option '--bogus'/);
    rejects(['--model', 'm', 'stray'], {}, /stray/);
  });

  it('validates model names used in URLs', () => {
    assert.equal(validateModelName('digits-full_v2.1', 'name'), 'digits-full_v2.1');
    assert.throws(() => validateModelName('-x', 'name'), /name must be/);
    assert.throws(() => validateModelName('a/b', 'name'), /name must be/);
    assert.throws(() => validateModelName('m.head', 'name'), /must not end in/);
  });
});
