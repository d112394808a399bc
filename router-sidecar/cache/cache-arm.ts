// One cache policy in force: its prefix cache, its drift agent and what it served. A router has
// the current arm and, while a canary is configured, a canary arm with the canary's settings.
import type { CacheCanarySpec, CacheSpec } from '../../crds/types.js';
import { AgentController, type AgentEffects } from '../agent/controller.js';
import type { Clock } from '../clock.js';
import { agentConfigFor } from '../agent/decide.js';
import type { ArmCounts } from './canary-verdict.js';
import { PrefixCache } from './prefix-cache.js';

export type ArmName = 'current' | 'canary';

/** The cache spec the canary runs: the current one with the canary's fields laid over it. */
export function canaryCacheSpec(cache: CacheSpec): CacheSpec | undefined {
  const canary: CacheCanarySpec | undefined = cache.canary;
  if (!canary) return undefined;
  const { canary: _omitted, ...rest } = cache;
  return {
    ...rest,
    ...(canary.prefixLength !== undefined ? { prefixLength: canary.prefixLength } : {}),
    ...(canary.ttlSeconds !== undefined ? { ttlSeconds: canary.ttlSeconds } : {}),
    ...(canary.ttlMode !== undefined ? { ttlMode: canary.ttlMode } : {}),
  };
}

/** Whether two specs describe the same cache policy (so a reload keeps the arm and its counts). */
export function samePolicy(a: CacheSpec, b: CacheSpec): boolean {
  const { canary: _a, ...restA } = a;
  const { canary: _b, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}

const enforces = (spec: CacheSpec): boolean => spec.drift.mode !== 'observe';

export class CacheArm {
  readonly cache: PrefixCache;
  readonly agent: AgentController;
  private counts: ArmCounts = { requests: 0, hits: 0, samples: 0, drifted: 0 };

  constructor(
    readonly name: ArmName,
    private currentSpec: CacheSpec,
    effects: AgentEffects,
    /** Injected by replays that run on simulated time; the router uses real time. */
    clock?: Clock,
  ) {
    const ttlMs = currentSpec.ttlSeconds * 1000;
    this.cache = new PrefixCache({ maxEntries: currentSpec.maxEntries, ttlMs, ...(clock ? { clock } : {}) });
    this.agent = new AgentController({
      ...(clock ? { clock } : {}),
      config: agentConfigFor(currentSpec),
      sampleRate: currentSpec.drift.sampleRate,
      enforce: enforces(currentSpec),
      effects,
    });
    if (!currentSpec.enabled) this.cache.setReuse(false, 'CacheDisabled');
  }

  get spec(): CacheSpec {
    return this.currentSpec;
  }

  /** A reloaded spec: enable flag, TTL, size bound and agent settings apply at once; entries are kept (a smaller bound evicts). */
  reconfigure(next: CacheSpec): void {
    const previous = this.currentSpec;
    this.currentSpec = next;
    if (next.maxEntries !== previous.maxEntries) this.cache.setMaxEntries(next.maxEntries);
    if (!next.enabled) this.cache.setReuse(false, 'CacheDisabled');
    else if (this.cache.stats().reuseReason === 'CacheDisabled') this.cache.setReuse(true, 'CacheEnabled');
    if (next.ttlSeconds !== previous.ttlSeconds) this.cache.setTtl(next.ttlSeconds * 1000);
    if ((next.ttlMode ?? 'adaptive') !== (previous.ttlMode ?? 'adaptive') || JSON.stringify(next.drift) !== JSON.stringify(previous.drift)) {
      this.agent.reconfigure(agentConfigFor(next), next.drift.sampleRate, enforces(next));
    }
  }

  countRequest(hit: boolean): void {
    this.counts.requests += 1;
    if (hit) this.counts.hits += 1;
  }

  countSample(divergence: number): void {
    this.counts.samples += 1;
    if (!(divergence <= this.currentSpec.drift.threshold)) this.counts.drifted += 1;
  }

  stats(): ArmCounts {
    return { ...this.counts };
  }
}
