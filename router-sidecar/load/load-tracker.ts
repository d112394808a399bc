// Per-variant load as the router sees it: requests in flight, EWMA latency and error rate from its
// own forwarding, and signals scraped from elsewhere (queue depth from the variant's /metrics, pod
// CPU from metrics.k8s.io). A scraped signal older than `staleAfterMs` is reported as missing
// (undefined), never as zero: an idle variant and an unreachable one must not look the same.
import { ROLES, type Role } from '../../crds/types.js';
import { monotonicClock, type Clock } from '../clock.js';
import { Ewma } from './ewma.js';

export type Outcome = 'ok' | 'error' | 'timeout';

export interface VariantLoad {
  inFlight: number;
  /** Completed requests seen. */
  completed: number;
  /** EWMA latency of requests that returned or timed out; undefined before the first. */
  latencyMs: number | undefined;
  /** Tail estimate (mean + 2.33 stddev) of the same; undefined before the first. */
  latencyP99Ms: number | undefined;
  /** EWMA of failures (errors and timeouts) in [0, 1]; 0 before any request. */
  errorRate: number;
  queueDepth: number | undefined;
  /** Pod CPU usage as a fraction of its limit (or request); may exceed 1 without a limit. */
  cpuUtilization: number | undefined;
}

export type LoadSnapshot = Record<Role, VariantLoad>;

export interface LoadTrackerOptions {
  /** Weight of each new latency sample. */
  latencyAlpha?: number;
  /** Weight of each new success/failure sample. */
  errorAlpha?: number;
  staleAfterMs?: number;
  /** Pod CPU is polled less often (metrics-server resolves it every 10-15 s), so it ages separately. */
  cpuStaleAfterMs?: number;
  /** Latency estimates older than this are reported as unknown (callers fall back to the model card). */
  latencyStaleAfterMs?: number;
  clock?: Clock;
}

interface Scraped {
  value: number;
  at: number;
}

class VariantCounters {
  inFlight = 0;
  completed = 0;
  lastLatencyAt = Number.NEGATIVE_INFINITY;
  queueDepth: Scraped | undefined;
  cpu: Scraped | undefined;
  constructor(
    public latency: Ewma,
    readonly errors: Ewma,
  ) {}
}

export class LoadTracker {
  private readonly variants = new Map<Role, VariantCounters>();
  private readonly clock: Clock;
  private readonly staleAfterMs: number;
  private readonly cpuStaleAfterMs: number;
  private readonly latencyStaleAfterMs: number;
  private readonly latencyAlpha: number;

  constructor(options: LoadTrackerOptions = {}) {
    this.clock = options.clock ?? monotonicClock;
    this.staleAfterMs = options.staleAfterMs ?? 15_000;
    this.cpuStaleAfterMs = options.cpuStaleAfterMs ?? this.staleAfterMs;
    this.latencyStaleAfterMs = options.latencyStaleAfterMs ?? 2_000;
    this.latencyAlpha = options.latencyAlpha ?? 0.2;
    for (const role of ROLES) {
      this.variants.set(role, new VariantCounters(new Ewma(options.latencyAlpha ?? 0.2), new Ewma(options.errorAlpha ?? 0.1)));
    }
  }

  /** Call when a request is sent; pass the result to finish(). */
  start(role: Role): number {
    this.counters(role).inFlight++;
    return this.clock();
  }

  finish(role: Role, startedAt: number, outcome: Outcome): void {
    const variant = this.counters(role);
    variant.inFlight = Math.max(0, variant.inFlight - 1);
    variant.completed++;
    // Fast failures (connection refused, 5xx) would make a broken variant look quick, so only
    // answers and timeouts feed the latency estimate.
    if (outcome !== 'error') {
      const now = this.clock();
      // A variant the router stopped using keeps its last (possibly unlucky) estimate forever;
      // start over instead, so a few slow requests cannot exclude it for good.
      if (now - variant.lastLatencyAt > this.latencyStaleAfterMs) variant.latency = new Ewma(this.latencyAlpha);
      variant.latency.update(now - startedAt);
      variant.lastLatencyAt = now;
    }
    variant.errors.update(outcome === 'ok' ? 0 : 1);
  }

  /** A scraped queue depth; a negative or non-finite value marks the signal missing. */
  setQueueDepth(role: Role, depth: number): void {
    this.counters(role).queueDepth = this.scraped(depth);
  }

  /** Pod CPU over its capacity; a negative or non-finite value marks the signal missing. */
  setCpuUtilization(role: Role, fraction: number): void {
    this.counters(role).cpu = this.scraped(fraction);
  }

  variant(role: Role): VariantLoad {
    const variant = this.counters(role);
    const now = this.clock();
    const current = now - variant.lastLatencyAt <= this.latencyStaleAfterMs;
    return {
      inFlight: variant.inFlight,
      completed: variant.completed,
      latencyMs: current ? variant.latency.value : undefined,
      latencyP99Ms: current ? variant.latency.upper() : undefined,
      errorRate: variant.errors.value ?? 0,
      queueDepth: this.fresh(variant.queueDepth, now, this.staleAfterMs),
      cpuUtilization: this.fresh(variant.cpu, now, this.cpuStaleAfterMs),
    };
  }

  snapshot(): LoadSnapshot {
    return {
      quantized: this.variant('quantized'),
      pruned: this.variant('pruned'),
      distilled: this.variant('distilled'),
      full: this.variant('full'),
    };
  }

  private counters(role: Role): VariantCounters {
    const variant = this.variants.get(role);
    if (!variant) throw new RangeError(`unknown role ${String(role)}`);
    return variant;
  }

  private scraped(value: number): Scraped | undefined {
    return Number.isFinite(value) && value >= 0 ? { value, at: this.clock() } : undefined;
  }

  private fresh(signal: Scraped | undefined, now: number, staleAfterMs: number): number | undefined {
    return signal && now - signal.at <= staleAfterMs ? signal.value : undefined;
  }
}
