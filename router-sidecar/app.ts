// Starts a router from a config file: builds the cascade, serves HTTP, watches the file and
// reloads it without dropping requests (the old cascade is closed only once its requests finish).
import { watchFile, unwatchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { errorMessage, type Logger } from '../common/logger.js';
import { buildCascade, type Cascade } from './cascade.js';
import { loadRouterConfig } from './config.js';
import { LoadTracker } from './load/load-tracker.js';
import { OverloadGuard, startLoopDelaySampler } from './load/overload-guard.js';
import { createKubeReporter } from './kube-reporter.js';
import { metricsApiLister, PodCpuPoller } from './load/pod-cpu-poller.js';
import { startQueueScraper } from './load/queue-scraper.js';
import { createRouterMetrics, type RouterMetrics } from './metrics.js';
import { Router } from './router.js';
import { createAdminServer } from './admin-server.js';
import { createRouterServer } from './server.js';
import { coalesced } from './coalesced.js';

export interface RouterAppOptions {
  configPath: string;
  host?: string;
  port?: number;
  /** The admin listener; 127.0.0.1 by default, so only the pod itself (and port-forward) reaches it. */
  adminHost?: string;
  adminPort?: number;
  modelsRoot?: string;
  adminToken?: string;
  /**
   * On close, how long readiness fails while requests are still served, so that endpoints stop
   * sending traffic before the listener closes.
   */
  shutdownDelayMs?: number;
  bodyLimitBytes?: number;
  maxInFlightPerVariant?: number;
  /** The shortest wait for an attempt at a variant before the next one is tried (default 20 ms). */
  attemptTimeoutFloorMs?: number;
  /** How often each variant's /metrics is read for its queue depth. */
  scrapeIntervalMs?: number;
  /** How often pod CPU is read from metrics.k8s.io (with `kube` only). */
  podCpuIntervalMs?: number;
  /** How often the config file is checked for changes; 0 turns watching off. */
  watchIntervalMs?: number;
  /**
   * Mean event-loop delay (ms) over 100 ms windows (two in a row) above which the router refuses a
   * growing share of new requests with 429 (see load/overload-guard.ts); 0 (the default) turns the
   * guard off. Opt-in because warm-up and bursts a router absorbs can cross any low limit:
   * bench/router-overload.ts measures 10.
   */
  overloadDelayMs?: number;
  logger: Logger;
  /** Report agent actions to Kubernetes (Events, the cascade's cache-state annotation). */
  kube?: { kubeconfig?: string };
  random?: () => number;
}

export interface RouterApp {
  url: string;
  port: number;
  adminUrl: string;
  router: Router;
  metrics: RouterMetrics;
  reload(): Promise<{ generation: number }>;
  close(): Promise<void>;
}

/** How often expired cache entries are dropped, so that memory follows the TTL, not only maxEntries. */
const PURGE_INTERVAL_MS = 5000;
export const DEFAULT_OVERLOAD_DELAY_MS = 0;

async function closeWhenIdle(cascade: Cascade, logger: Logger): Promise<void> {
  while (cascade.active > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  await cascade.close().catch((error: unknown) => logger.warn('closing a replaced cascade failed', { error: errorMessage(error) }));
}

export async function startRouterApp(options: RouterAppOptions): Promise<RouterApp> {
  const { logger } = options;
  const metrics = createRouterMetrics();
  const podCpuIntervalMs = options.podCpuIntervalMs ?? 15_000;
  const load = new LoadTracker({ staleAfterMs: 3 * (options.scrapeIntervalMs ?? 2000), cpuStaleAfterMs: 3 * podCpuIntervalMs });
  const build = async () => {
    const config = await loadRouterConfig(options.configPath);
    return buildCascade(config, {
      ...(options.modelsRoot ? { modelsRoot: options.modelsRoot } : {}),
      maxInFlightPerVariant: options.maxInFlightPerVariant ?? 64,
      ...(options.attemptTimeoutFloorMs !== undefined ? { attemptTimeoutFloorMs: options.attemptTimeoutFloorMs } : {}),
      logger,
      load,
      onAttempt: (attempt) => metrics.attempts.inc({ variant: attempt.role, result: attempt.result }),
      onPolicyFallback: (reason) => metrics.policyFallbacks.inc({ reason }),
      onBreakerChange: (role, from, to) => logger.warn('circuit breaker changed state', { variant: role, from, to }),
    });
  };
  let emitEvent = (reason: string, message: string): void => {
    logger.info('cascade event', { reason, message });
  };
  let reportCacheState: ((reuseEnabled: boolean, reason: string) => Promise<void>) | undefined;
  const first = await build();
  let podCpu: PodCpuPoller | undefined;
  if (options.kube) {
    // Reporting is an extra: a router without API credentials still routes, and logs its actions.
    const reporter = await createKubeReporter({
      ...(options.kube.kubeconfig ? { kubeconfig: options.kube.kubeconfig } : {}),
      namespace: first.config.cascade.namespace,
      name: first.config.cascade.name,
      instance: hostname(),
      logger,
    }).catch((error: unknown) => {
      logger.warn('cannot report cache actions to Kubernetes; they are only logged', { error: errorMessage(error) });
      return undefined;
    });
    if (reporter) {
      emitEvent = (reason, message) => void reporter.emitEvent(reason, message);
      reportCacheState = (reuseEnabled, reason) => reporter.reportCacheState(reuseEnabled, reason);
    }
    podCpu = new PodCpuPoller({
      list: metricsApiLister(options.kube.kubeconfig, first.config.cascade.namespace, first.config.cascade.name),
      cpuMillis: () => Object.fromEntries(router.current.config.variants.flatMap((v) => (v.cpuMillis ? [[v.role, v.cpuMillis]] : []))),
      load,
      intervalMs: podCpuIntervalMs,
      logger,
      onPoll: (result) => metrics.podMetricsPolls.inc({ result }),
    });
  }
  const router = new Router(first, {
    logger,
    metrics,
    load,
    emitEvent,
    ...(reportCacheState ? { reportCacheState } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  const overloadDelayMs = options.overloadDelayMs ?? DEFAULT_OVERLOAD_DELAY_MS;
  const overload = overloadDelayMs > 0 ? new OverloadGuard({ maxDelayMs: overloadDelayMs }) : undefined;
  const stopDelaySampler = overload
    ? startLoopDelaySampler((delayMs) => {
        const before = overload.shedFraction;
        overload.observe(delayMs);
        if (before === 0 && overload.shedFraction > 0) logger.warn('router overloaded; refusing a share of new requests with 429', { eventLoopDelayMs: Number(delayMs.toFixed(1)), limitMs: overloadDelayMs });
        else if (before > 0 && overload.shedFraction === 0) logger.info('router keeps up again; admitting every request', { eventLoopDelayMs: Number(delayMs.toFixed(1)) });
      })
    : () => undefined;
  metrics.setSources({
    cache: () => router.cache.stats(),
    canary: () => {
      const report = router.canary();
      return report ? { verdict: report.verdict, arms: { current: report.current, canary: report.canary } } : undefined;
    },
    breaker: (role) => router.current.breakers[role].state(),
    inFlight: (role) => load.variant(role).inFlight,
    cpuUtilization: (role) => load.variant(role).cpuUtilization,
    ...(overload ? { overloadShedFraction: () => overload.shedFraction } : {}),
  });
  podCpu?.start();

  let generation = 1;
  const reload = coalesced(async (): Promise<{ generation: number }> => {
    try {
      const next = await build();
      const previous = router.swap(next);
      generation += 1;
      metrics.configReloads.inc({ result: 'ok' });
      logger.info('router configuration reloaded', { generation, policy: next.policy.type });
      void closeWhenIdle(previous, logger);
      return { generation };
    } catch (error) {
      metrics.configReloads.inc({ result: 'error' });
      logger.error('router configuration reload failed; keeping the previous one', { error: errorMessage(error) });
      throw error;
    }
  });

  const stopScraper = startQueueScraper({ clients: () => router.current.clients, load, intervalMs: options.scrapeIntervalMs ?? 2000, logger });
  const prober = setInterval(() => {
    router.current.probeRecovering().catch((error: unknown) => logger.warn('breaker probe failed', { error: errorMessage(error) }));
  }, 500);
  prober.unref();
  const purger = setInterval(() => router.purgeExpired(), PURGE_INTERVAL_MS);
  purger.unref();

  let draining = false;
  const app = createRouterServer({
    router,
    metrics,
    logger,
    bodyLimitBytes: options.bodyLimitBytes ?? 4 * 1024 * 1024,
    ready: () => !draining,
    load: () => load.snapshot(),
    podCpuSignal: () => podCpu?.state ?? (podCpu ? 'pending' : 'off (not in a cluster)'),
    ...(overload ? { overload } : {}),
  });
  const admin = createAdminServer({ router, logger, reload, ...(options.adminToken ? { adminToken: options.adminToken } : {}) });
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const port = (app.server.address() as AddressInfo).port;
  const adminHost = options.adminHost ?? '127.0.0.1';
  try {
    await admin.listen({ host: adminHost, port: options.adminPort ?? 0 });
  } catch (error) {
    stopDelaySampler();
    await app.close();
    throw error;
  }
  const adminPort = (admin.server.address() as AddressInfo).port;
  const interval = options.watchIntervalMs ?? 1000;
  if (interval > 0) {
    watchFile(options.configPath, { interval }, (current, previous) => {
      if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size) reload().catch(() => undefined);
    });
  }
  logger.info('router listening', { port, adminPort, config: options.configPath, cascade: router.config.cascade, policy: router.current.policy.type });
  let closing: Promise<void> | undefined;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    adminUrl: `http://${adminHost}:${adminPort}`,
    router,
    metrics,
    reload,
    close() {
      closing ??= (async () => {
        draining = true;
        const delayMs = options.shutdownDelayMs ?? 0;
        if (delayMs > 0) {
          logger.info('readiness fails; still serving until endpoints drop this replica', { shutdownDelayMs: delayMs });
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
        clearInterval(prober);
        clearInterval(purger);
        stopDelaySampler();
        stopScraper();
        podCpu?.stop();
        if (interval > 0) unwatchFile(options.configPath);
        await Promise.all([app.close(), admin.close()]);
        await closeWhenIdle(router.current, logger);
      })();
      return closing;
    },
  };
}
