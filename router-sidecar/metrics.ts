// The router's Prometheus metrics, on a private registry. Cache and breaker figures are read from
// their owners at scrape time, so the request path only touches counters it must.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectRuntimeMetrics } from '../common/default-metrics.js';
import { ROLES, type Role } from '../crds/types.js';
import type { ArmSummary, CanaryVerdict } from './cache/canary-verdict.js';
import type { PrefixCacheStats } from './cache/prefix-cache.js';
import type { BreakerState } from './forwarding/circuit-breaker.js';

export interface CanaryFigures {
  verdict: CanaryVerdict;
  arms: Record<'current' | 'canary', ArmSummary>;
}

export interface ScrapeSources {
  cache(): PrefixCacheStats;
  /** While a canary cache policy runs. */
  canary?(): CanaryFigures | undefined;
  breaker(role: Role): BreakerState;
  inFlight(role: Role): number;
  /** Pod CPU over capacity from metrics.k8s.io; undefined while the signal is missing. */
  cpuUtilization?(role: Role): number | undefined;
  /** The share of requests the overload guard refuses now (absent when the guard is off). */
  overloadShedFraction?(): number;
}

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface RouterMetrics {
  registry: Registry;
  requests: Counter<'variant' | 'cache' | 'code'>;
  requestDuration: Histogram<'variant' | 'cache'>;
  attempts: Counter<'variant' | 'result'>;
  divergence: Histogram<string>;
  agentActions: Counter<'action' | 'arm'>;
  policyFallbacks: Counter<'reason'>;
  policyDecisions: Counter<'variant' | 'reason'>;
  escalations: Counter<'from' | 'to'>;
  inRouterAnswers: Counter<'variant'>;
  overloadShed: Counter<string>;
  configReloads: Counter<'result'>;
  podMetricsPolls: Counter<'result'>;
  setSources(sources: ScrapeSources): void;
}

export function createRouterMetrics(): RouterMetrics {
  const registry = new Registry();
  collectRuntimeMetrics(registry, 'inference_cascade_router_');
  const registers = [registry];
  let sources: ScrapeSources | undefined;
  const cacheCounter = (name: string, help: string, read: (s: PrefixCacheStats) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (!sources) return;
        this.reset();
        this.inc(read(sources.cache()));
      },
    });
  cacheCounter('inference_cascade_router_cache_hits_total', 'Prefix-cache lookups that found a live entry with reuse on.', (s) => s.hits);
  cacheCounter('inference_cascade_router_cache_misses_total', 'Prefix-cache lookups that found nothing.', (s) => s.misses);
  cacheCounter('inference_cascade_router_cache_bypassed_total', 'Lookups skipped because the agent turned reuse off.', (s) => s.bypassed);
  cacheCounter('inference_cascade_router_cache_evictions_total', 'Entries evicted to stay within the size bound (LRU).', (s) => s.evictions);
  cacheCounter('inference_cascade_router_cache_expirations_total', 'Entries dropped because their TTL ran out.', (s) => s.expirations);
  new Gauge({
    name: 'inference_cascade_router_cache_entries',
    help: 'Entries in the prefix cache.',
    registers,
    collect() {
      if (sources) this.set(sources.cache().size);
    },
  });
  new Gauge({
    name: 'inference_cascade_router_cache_reuse_enabled',
    help: '1 while cached embeddings are reused, 0 while reuse is off; reason says who decided (DriftDetected: the drift agent, CacheDisabled: the configuration, DisabledByOperator: an administrator).',
    labelNames: ['reason'],
    registers,
    collect() {
      if (!sources) return;
      const { reuseEnabled, reuseReason } = sources.cache();
      // One series, labelled with the reason in force now.
      this.reset();
      this.set({ reason: reuseReason }, reuseEnabled ? 1 : 0);
    },
  });
  new Gauge({
    name: 'inference_cascade_router_cache_ttl_seconds',
    help: 'TTL given to new cache entries (cache.ttlSeconds; with ttlMode adaptive the agent expires entries that may predate a detected change instead of shortening it).',
    registers,
    collect() {
      if (sources) this.set(sources.cache().ttlMs / 1000);
    },
  });
  const canaryFigures = () => sources?.canary?.();
  new Counter({
    name: 'inference_cascade_router_cache_canary_requests_total',
    help: 'Requests served by each cache policy while a canary runs (arm current or canary), by whether a cached embedding answered.',
    labelNames: ['arm', 'result'],
    registers,
    collect() {
      this.reset();
      const figures = canaryFigures();
      if (!figures) return;
      for (const arm of ['current', 'canary'] as const) {
        const summary = figures.arms[arm];
        this.inc({ arm, result: 'hit' }, summary.hits);
        this.inc({ arm, result: 'miss' }, summary.requests - summary.hits);
      }
    },
  });
  new Gauge({
    name: 'inference_cascade_router_cache_canary_drift_risk',
    help: 'Share of sampled would-be hits diverging beyond the drift threshold, per cache policy while a canary runs.',
    labelNames: ['arm'],
    registers,
    collect() {
      this.reset();
      const figures = canaryFigures();
      if (figures) for (const arm of ['current', 'canary'] as const) this.set({ arm }, figures.arms[arm].risk);
    },
  });
  new Gauge({
    name: 'inference_cascade_router_cache_canary_verdict',
    help: '1 for the canary comparison\'s current verdict (collecting, promote, keep-current), 0 for the others.',
    labelNames: ['verdict'],
    registers,
    collect() {
      this.reset();
      const figures = canaryFigures();
      if (figures) for (const verdict of ['collecting', 'promote', 'keep-current'] as const) this.set({ verdict }, figures.verdict === verdict ? 1 : 0);
    },
  });
  new Gauge({
    name: 'inference_cascade_router_breaker_state',
    help: 'Circuit breaker per variant: 0 closed, 1 half-open, 2 open.',
    labelNames: ['variant'],
    registers,
    collect() {
      if (sources) for (const role of ROLES) this.set({ variant: role }, BREAKER_VALUE[sources.breaker(role)]);
    },
  });
  new Gauge({
    name: 'inference_cascade_router_variant_cpu_utilization_ratio',
    help: 'Pod CPU use of each variant over its pods\' CPU limit (else request), from metrics.k8s.io; absent while the signal is missing.',
    labelNames: ['variant'],
    registers,
    collect() {
      this.reset();
      if (!sources?.cpuUtilization) return;
      for (const role of ROLES) {
        const value = sources.cpuUtilization(role);
        if (value !== undefined) this.set({ variant: role }, value);
      }
    },
  });
  new Gauge({
    name: 'inference_cascade_router_overload_shed_ratio',
    help: 'Share of new requests the router refuses because it is overloaded (0 when it keeps up or the guard is off).',
    registers,
    collect() {
      this.set(sources?.overloadShedFraction?.() ?? 0);
    },
  });
  new Gauge({
    name: 'inference_cascade_router_upstream_in_flight',
    help: 'Requests the router has in flight at each variant.',
    labelNames: ['variant'],
    registers,
    collect() {
      if (sources) for (const role of ROLES) this.set({ variant: role }, sources.inFlight(role));
    },
  });
  return {
    registry,
    setSources: (s) => {
      sources = s;
    },
    requests: new Counter({
      name: 'inference_cascade_router_requests_total',
      help: 'Inference requests by HTTP code: answered (variant and cache use), refused as overloaded (429), failed (5xx) or rejected as bad input (4xx; variant none).',
      labelNames: ['variant', 'cache', 'code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'inference_cascade_router_request_duration_seconds',
      help: 'Time from request arrival to answer, inside the router, for answered requests (failures are counted in requests_total by code).',
      labelNames: ['variant', 'cache'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 1],
      registers,
    }),
    attempts: new Counter({
      name: 'inference_cascade_router_upstream_attempts_total',
      help: 'Attempts at variants and their result (ok, timeout, connect, status, protocol, breaker-open, saturated, shed).',
      labelNames: ['variant', 'result'],
      registers,
    }),
    divergence: new Histogram({
      name: 'inference_cascade_router_cache_divergence',
      help: 'Divergence between a cached and a freshly computed embedding, on sampled hits.',
      buckets: [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1],
      registers,
    }),
    agentActions: new Counter({
      name: 'inference_cascade_router_agent_actions_total',
      help: 'Cache agent actions (disable, enable), by cache policy (arm current, or canary while a canary runs).',
      labelNames: ['action', 'arm'],
      registers,
    }),
    policyFallbacks: new Counter({
      name: 'inference_cascade_router_policy_fallback_total',
      help: 'Times the learned policy was unavailable and the heuristic routed instead, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    policyDecisions: new Counter({
      name: 'inference_cascade_router_policy_decisions_total',
      help: 'Policy decisions by chosen variant and reason.',
      labelNames: ['variant', 'reason'],
      registers,
    }),
    escalations: new Counter({
      name: 'inference_cascade_router_escalations_total',
      help: 'Extra variant calls made because an answer was unsure (threshold-cascade policy), by the role escalated from and the role that answered.',
      labelNames: ['from', 'to'],
      registers,
    }),
    inRouterAnswers: new Counter({
      name: 'inference_cascade_router_in_router_answers_total',
      help: "Fresh answers computed by the router's own copy of a variant's model instead of forwarding (policy.distilledInRouter), by variant.",
      labelNames: ['variant'],
      registers,
    }),
    overloadShed: new Counter({
      name: 'inference_cascade_router_overload_shed_total',
      help: 'Requests refused with 429 because the router itself was overloaded (its event loop running late).',
      registers,
    }),
    configReloads: new Counter({
      name: 'inference_cascade_router_config_reloads_total',
      help: 'Configuration reloads by result (ok, error).',
      labelNames: ['result'],
      registers,
    }),
    podMetricsPolls: new Counter({
      name: 'inference_cascade_router_pod_metrics_polls_total',
      help: 'Reads of pod CPU from metrics.k8s.io by result (ok, unavailable, forbidden, error).',
      labelNames: ['result'],
      registers,
    }),
  };
}
