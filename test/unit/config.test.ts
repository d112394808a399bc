import assert from 'node:assert/strict';
import os from 'node:os';
import { ConfigError, parseConfig, type OperatorConfig } from '../../operator/config.js';
import { defaultBuildOptions } from '../../operator/desired/index.js';

describe('parseConfig', () => {
  it('uses the defaults with no flags and no environment', () => {
    const config = parseConfig([], {});
    assert.deepEqual(config, {
      namespace: 'inference-cascade-system',
      identity: `${os.hostname()}-${process.pid}`,
      leaderElect: true,
      leaseName: 'inference-cascade-operator',
      leaseDurationSeconds: 15,
      workers: 4,
      probeHost: '0.0.0.0',
      probePort: 8081,
      logLevel: 'info',
      resyncPeriodSeconds: 600,
      watchdogSeconds: 300,
      shutdownTimeoutSeconds: 20,
      build: defaultBuildOptions,
    } satisfies OperatorConfig);
    assert.equal('kubeconfig' in config, false);
  });

  it('falls back to the in-cluster environment', () => {
    const config = parseConfig([], { KUBECONFIG: '/k', POD_NAMESPACE: 'ops', POD_NAME: 'operator-0', LOG_LEVEL: 'debug' });
    assert.equal(config.kubeconfig, '/k');
    assert.equal(config.namespace, 'ops');
    assert.equal(config.identity, 'operator-0');
    assert.equal(config.logLevel, 'debug');
  });

  it('prefers flags to the environment', () => {
    const config = parseConfig(
      ['--kubeconfig=/flag', '--namespace', 'flag-ns', '--identity=me', '--log-level=warn'],
      { KUBECONFIG: '/env', POD_NAMESPACE: 'env-ns', POD_NAME: 'env-pod', LOG_LEVEL: 'debug' },
    );
    assert.deepEqual([config.kubeconfig, config.namespace, config.identity, config.logLevel], ['/flag', 'flag-ns', 'me', 'warn']);
  });

  it('reads every flag', () => {
    const config = parseConfig([
      '--leader-elect=false', '--lease-name=l', '--lease-duration-seconds=30', '--workers=8',
      '--health-probe-bind-address=127.0.0.1:9440', '--resync-period-seconds=60', '--watchdog-seconds=5',
      '--shutdown-timeout-seconds=600', '--variant-image=v:2', '--router-image=r:2', '--router-cluster-role=team-a-router',
    ], {});
    assert.deepEqual(
      [config.leaderElect, config.leaseName, config.leaseDurationSeconds, config.workers, config.probeHost, config.probePort,
        config.resyncPeriodSeconds, config.watchdogSeconds, config.shutdownTimeoutSeconds],
      [false, 'l', 30, 8, '127.0.0.1', 9440, 60, 5, 600],
    );
    assert.deepEqual(config.build, { ...defaultBuildOptions, variantImage: 'v:2', routerImage: 'r:2', routerClusterRole: 'team-a-router' });
  });

  const valid: [string[], Partial<OperatorConfig>][] = [
    [['--health-probe-bind-address=:8082'], { probeHost: '0.0.0.0', probePort: 8082 }],
    [['--health-probe-bind-address=0.0.0.0:0'], { probeHost: '0.0.0.0', probePort: 0 }],
    [['--workers=1'], { workers: 1 }],
    [['--workers=64'], { workers: 64 }],
    [['--lease-duration-seconds=2'], { leaseDurationSeconds: 2 }],
    [['--leader-elect=true'], { leaderElect: true }],
  ];
  for (const [argv, expected] of valid) {
    it(`accepts ${argv.join(' ')}`, () => {
      const config = parseConfig(argv, {});
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(config[key as keyof OperatorConfig], value, key);
    });
  }

  const invalid: [string[], string, NodeJS.ProcessEnv?][] = [
    [['--workers=0'], '--workers'],
    [['--workers=65'], '--workers'],
    [['--workers=2.5'], '--workers'],
    [['--lease-duration-seconds=abc'], '--lease-duration-seconds'],
    [['--lease-duration-seconds=1'], '--lease-duration-seconds'],
    [['--resync-period-seconds=9'], '--resync-period-seconds'],
    [['--watchdog-seconds=-1'], '--watchdog-seconds'],
    [['--shutdown-timeout-seconds=601'], '--shutdown-timeout-seconds'],
    [['--health-probe-bind-address=nope'], '--health-probe-bind-address'],
    [['--health-probe-bind-address=host:'], '--health-probe-bind-address'],
    [['--health-probe-bind-address=host:70000'], '--health-probe-bind-address'],
    [['--leader-elect=maybe'], '--leader-elect'],
    [['--leader-elect'], '--leader-elect'],
    [['--log-level=loud'], '--log-level'],
    [[], '--log-level', { LOG_LEVEL: 'trace' }],
    [['--unknown-flag=1'], '--unknown-flag'],
    [['--workers'], '--workers'],
  ];
  for (const [argv, flag, env] of invalid) {
    it(`rejects ${argv.join(' ') || JSON.stringify(env)} naming ${flag}`, () => {
      assert.throws(() => parseConfig(argv, env ?? {}), (err: unknown) => {
        assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
        assert.ok(err.message.includes(flag), `message does not name ${flag}: ${err.message}`);
        return true;
      });
    });
  }

  it('rejects positional arguments', () => {
    assert.throws(() => parseConfig(['extra'], {}), ConfigError);
  });
});
