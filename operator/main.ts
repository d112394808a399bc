// npm run operator [-- --flags]: runs the InferenceCascade operator against the current kubeconfig
// (or in-cluster credentials). The only place that reads flags, environment and signals.
import { ConfigError, parseConfig } from './config.js';
import { CascadeController } from './controller.js';
import { KubeEventRecorder } from './events.js';
import { createClients, loadKubeConfig } from './kube.js';
import { LeaderElector } from './leader-election.js';
import { createLogger, errorMessage } from '../common/logger.js';
import { createOperatorMetrics } from './metrics.js';
import { createProbeServer, listen } from './server.js';

const COMPONENT = 'inference-cascade-operator';

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${COMPONENT}: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, { component: COMPONENT, identity: config.identity });
  const clients = createClients(loadKubeConfig(config.kubeconfig));
  const metrics = createOperatorMetrics();
  let shuttingDown = false;

  const elector = config.leaderElect
    ? new LeaderElector({
        api: clients.coordination,
        namespace: config.namespace,
        name: config.leaseName,
        identity: config.identity,
        options: {
          leaseDurationSeconds: config.leaseDurationSeconds,
          renewDeadlineMs: Math.round(config.leaseDurationSeconds * 1000 * 2 / 3),
          retryPeriodMs: Math.max(200, Math.round(config.leaseDurationSeconds * 1000 / 7.5)),
        },
        logger,
        onStartedLeading: () => {
          logger.info('started leading');
          metrics.isLeader.set(1);
          controller.startWorkers();
        },
        onStoppedLeading: (reason) => {
          metrics.isLeader.set(0);
          if (reason === 'lost') {
            // As client-go callers do: a replica that lost its lease exits and starts afresh.
            logger.error('lost the leader lease, exiting');
            void shutdown(1);
          }
        },
      })
    : undefined;

  const controller = new CascadeController({
    clients,
    events: new KubeEventRecorder(clients.core, COMPONENT, config.identity, logger),
    metrics,
    logger,
    build: config.build,
    options: { workers: config.workers, resyncPeriodMs: config.resyncPeriodSeconds * 1000, watchdogMs: config.watchdogSeconds * 1000 },
    canWrite: () => !elector || elector.isLeader(),
  });

  const server = createProbeServer({ registry: metrics.registry, ready: () => controller.synced && !shuttingDown });
  const port = await listen(server, config.probeHost, config.probePort);
  logger.info('probe server listening', { host: config.probeHost, port });

  async function shutdown(code: number): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info('shutting down', { code });
    const force = setTimeout(() => {
      logger.error('shutdown timed out, exiting');
      process.exit(code || 1);
    }, config!.shutdownTimeoutSeconds * 1000);
    force.unref();
    try {
      await controller.stop();
      await elector?.stop();
    } catch (err) {
      logger.warn('error during shutdown', { error: errorMessage(err) });
    }
    server.close();
    logger.info('stopped');
    process.exit(code);
  }
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));

  await controller.startInformers();
  logger.info('caches synced');
  if (elector) void elector.start();
  else controller.startWorkers();
}

main().catch((err: unknown) => {
  console.error(JSON.stringify({ level: 'error', component: COMPONENT, message: 'operator failed', error: errorMessage(err) }));
  process.exit(1);
});
