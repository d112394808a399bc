// The real Router (policy, forwarder, breakers, prefix caches, drift agent) in this process, over
// variant clients the caller supplies: replays of recorded answers on simulated time, and tests.
import type { Logger } from '../common/logger.js';
import type { RouterConfig } from '../crds/router-config.js';
import type { Role } from '../crds/types.js';
import type { Cascade } from '../router-sidecar/cascade.js';
import type { Clock } from '../router-sidecar/clock.js';
import { createBreakers } from '../router-sidecar/forwarding/circuit-breaker.js';
import { Forwarder } from '../router-sidecar/forwarding/forwarder.js';
import { RetryBudget } from '../router-sidecar/forwarding/retry-budget.js';
import { LoadTracker } from '../router-sidecar/load/load-tracker.js';
import type { LocalHead } from '../router-sidecar/local-models.js';
import { createRouterMetrics, type RouterMetrics } from '../router-sidecar/metrics.js';
import type { Policy } from '../router-sidecar/policy/policy.js';
import type { VariantProfiles } from '../router-sidecar/policy/variant-profile.js';
import { Router } from '../router-sidecar/router.js';
import type { VariantClient } from '../router-sidecar/upstream.js';

export const silentLogger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {}, child: () => silentLogger } as unknown as Logger;

export interface InProcessRouterOptions {
  config: RouterConfig;
  clients: Record<Role, VariantClient>;
  heads?: Partial<Record<Role, LocalHead>>;
  policy: Policy;
  profiles: VariantProfiles;
  random?: () => number;
  clock?: Clock;
  emitEvent?: (reason: string, message: string) => void | Promise<void>;
  logger?: Logger;
}

export interface InProcessRouter {
  router: Router;
  metrics: RouterMetrics;
  cascade: Cascade;
}

export function inProcessRouter(options: InProcessRouterOptions): InProcessRouter {
  const load = new LoadTracker();
  const breakers = createBreakers({ failureThreshold: 100 });
  const retryBudget = new RetryBudget({ ratio: 1, minConcurrent: 1000 });
  const forwarder = new Forwarder({
    clients: options.clients, breakers, load, retryBudget,
    maxInFlightPerVariant: 64, hardTimeoutMs: 1000, now: () => performance.now(),
  });
  const cascade: Cascade = {
    config: options.config, clients: options.clients, heads: options.heads ?? {}, profiles: options.profiles, policy: options.policy, breakers, forwarder, retryBudget, active: 0,
    difficulty: { source: 'constant', estimate: async () => ({ difficulty: 0.5 }), close: async () => {} },
    probeRecovering: async () => {},
    close: async () => {},
  };
  const metrics = createRouterMetrics();
  const router = new Router(cascade, {
    logger: options.logger ?? silentLogger,
    metrics,
    load,
    emitEvent: options.emitEvent ?? (() => {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { router, metrics, cascade };
}
