// One request through the cascade: estimate difficulty, let the policy choose a variant (or take
// the variant the request pins), reuse a cached encoder output when the agent allows it (running
// that variant's head on it), otherwise forward to the variant with fallback, cache the fresh
// embedding, and feed the agent its samples. An escalating policy (threshold-cascade) then asks
// more costly variants while the answer is unsure.
import type { Logger } from '../common/logger.js';
import type { PolicyType, Role } from '../crds/types.js';
import type { CacheSpec } from '../crds/types.js';
import type { Clock } from './clock.js';
import { AgentController, emitBestEffort, type AgentActionRecord, type AgentEffects } from './agent/controller.js';
import type { AgentState } from './agent/decide.js';
import { divergence } from './agent/divergence.js';
import { CacheArm, canaryCacheSpec, samePolicy, type ArmName } from './cache/cache-arm.js';
import { compareArms, DEFAULT_MAX_RISK, DEFAULT_VERDICT_RULE, type CanaryComparison, type CanaryVerdict } from './cache/canary-verdict.js';
import { modelIdentity, prefixKey, prefixShare } from './cache/prefix-key.js';
import type { PrefixCache, PrefixCacheStats } from './cache/prefix-cache.js';
import type { Cascade } from './cascade.js';
import { allowedRoles } from './forwarding/circuit-breaker.js';
import { RoutingError, type Attempt, type ForwardResult } from './forwarding/forwarder.js';
import { attemptTimeoutMs, canFallBack } from './forwarding/timeouts.js';
import { HeuristicPolicy } from './policy/heuristic.js';
import { effectiveSla, type Escalation, type PolicyDecision, type RequestHints } from './policy/policy.js';
import type { LoadTracker } from './load/load-tracker.js';
import type { RouterMetrics } from './metrics.js';
import type { VariantAnswer } from './upstream.js';
import { argmaxRows } from '../variant-server/tensors.js';

export const CANARY_PROMOTABLE_EVENT = 'CacheCanaryPromotable';
export const CANARY_REJECTED_EVENT = 'CacheCanaryRejected';

const IGNORES_DIFFICULTY: ReadonlySet<PolicyType> = new Set<PolicyType>(['static', 'random', 'round-robin', 'threshold-cascade']);

export interface RouteResult {
  role: Role;
  rows: number;
  probabilities: Float32Array;
  predictions: number[];
  cacheHit: boolean;
  difficulty: number;
  latencyMs: number;
  attempts: readonly Attempt[];
  /** Extra variant calls answered because an earlier answer was unsure (escalating policies); 0 otherwise. */
  escalations: number;
  /** Answered by the router's own copy of the distilled model (policy.distilledInRouter), not forwarded. */
  inRouter: boolean;
}

/** One answer before any escalation. */
interface Served {
  role: Role;
  answer: VariantAnswer;
  cacheHit: boolean;
  attempts: readonly Attempt[];
  inRouter: boolean;
}

/** The top-class probability of the least confident row of [rows, classes] probabilities (NaN when empty). */
export function topProbability(probabilities: Float32Array, rows: number): number {
  const classes = rows > 0 ? probabilities.length / rows : 0;
  if (!(classes >= 1) || !Number.isInteger(classes)) return NaN;
  let lowest = Infinity;
  for (let row = 0; row < rows; row++) {
    let top = -Infinity;
    for (let c = row * classes; c < (row + 1) * classes; c++) {
      const p = probabilities[c]!;
      if (Number.isNaN(p)) return NaN;
      if (p > top) top = p;
    }
    if (top < lowest) lowest = top;
  }
  return lowest;
}

export interface RouterOptions {
  logger: Logger;
  metrics: RouterMetrics;
  load: LoadTracker;
  /** Kubernetes Events (or a log line when running outside a cluster). */
  emitEvent: (reason: string, message: string) => void | Promise<void>;
  /** Where the cascade's cache state is published (the operator's CacheDegraded condition). */
  reportCacheState?: (reuseEnabled: boolean, reason: string) => void | Promise<void>;
  random?: () => number;
  /** The caches' and agents' clock; replays on simulated time inject one. */
  clock?: Clock;
}

export interface DivergenceSample {
  request: number;
  divergence: number;
  reuse: boolean;
  arm: ArmName;
}

export interface CanaryReport extends CanaryComparison {
  fraction: number;
  spec: CacheSpec;
  cache: PrefixCacheStats;
  agent: { state: AgentState; actions: readonly AgentActionRecord[] };
}

export class Router {
  private cascade: Cascade;
  private readonly currentArm: CacheArm;
  private canaryArm: CacheArm | undefined;
  private lastVerdict: CanaryVerdict = 'collecting';
  private requestCount = 0;
  private heldOffByAdmin = false;
  private readonly random: () => number;
  /** Recent divergence samples with the request counter, for /status and the demo's plot. */
  private readonly divergenceLog: DivergenceSample[] = [];

  constructor(
    cascade: Cascade,
    private readonly options: RouterOptions,
  ) {
    this.cascade = cascade;
    this.random = options.random ?? Math.random;
    this.currentArm = new CacheArm('current', cascade.config.cache, this.armEffects('current'), options.clock);
    this.syncCanary(cascade.config.cache);
  }

  /** The current cache policy's prefix cache. */
  get cache(): PrefixCache {
    return this.currentArm.cache;
  }

  get agent(): AgentController {
    return this.currentArm.agent;
  }

  get config() {
    return this.cascade.config;
  }

  get current(): Cascade {
    return this.cascade;
  }

  /** Swaps in a cascade built from a new config; returns the old one for the caller to close once idle. */
  swap(next: Cascade): Cascade {
    const previous = this.cascade;
    this.cascade = next;
    this.currentArm.reconfigure(next.config.cache);
    this.syncCanary(next.config.cache);
    return previous;
  }

  requests(): number {
    return this.requestCount;
  }

  divergenceSamples(): readonly DivergenceSample[] {
    return this.divergenceLog;
  }

  agentActions(): readonly AgentActionRecord[] {
    return this.currentArm.agent.actions();
  }

  /** The canary cache policy's comparison with the current one, while a canary is configured. */
  canary(): CanaryReport | undefined {
    const arm = this.canaryArm;
    const comparison = this.compareCanary();
    if (!arm || !comparison) return undefined;
    return { ...comparison, fraction: this.cascade.config.cache.canary!.fraction, spec: arm.spec, cache: arm.cache.stats(), agent: { state: arm.agent.state(), actions: arm.agent.actions() } };
  }

  private compareCanary(): CanaryComparison | undefined {
    const spec = this.cascade.config.cache.canary;
    if (!this.canaryArm || !spec) return undefined;
    return compareArms(this.currentArm.stats(), this.canaryArm.stats(), { ...DEFAULT_VERDICT_RULE, maxRisk: spec.maxRisk ?? DEFAULT_MAX_RISK });
  }

  /** Logs and announces (one Event) each change of the canary verdict. */
  private checkCanaryVerdict(): void {
    const comparison = this.compareCanary();
    if (!comparison || comparison.verdict === this.lastVerdict) return;
    this.lastVerdict = comparison.verdict;
    if (comparison.verdict === 'collecting') return;
    const reason = comparison.verdict === 'promote' ? CANARY_PROMOTABLE_EVENT : CANARY_REJECTED_EVENT;
    this.options.logger.info('cache canary verdict', { verdict: comparison.verdict, reason: comparison.reason });
    // Events are best effort; the verdict is in /status and the metrics.
    emitBestEffort(this.options.emitEvent, reason, `Cache canary: ${comparison.reason}`);
  }

  /** Admin switch: turn reuse of cached embeddings off or on (every cache policy); the router then always computes fresh. */
  setCacheReuse(enabled: boolean): void {
    this.heldOffByAdmin = !enabled;
    const reason = enabled ? 'EnabledByOperator' : 'DisabledByOperator';
    if (this.currentArm.cache.setReuse(enabled, reason)) void this.options.reportCacheState?.(enabled, reason);
    this.currentArm.agent.syncReuse(enabled);
    if (this.canaryArm) {
      this.canaryArm.cache.setReuse(enabled, reason);
      this.canaryArm.agent.syncReuse(enabled);
    }
  }

  /**
   * Drops expired entries from every cache policy now; returns how many. Expiry is otherwise lazy,
   * so without this a cache fed new prefixes would hold expired entries up to maxEntries.
   */
  purgeExpired(): number {
    let purged = 0;
    for (const arm of [this.currentArm, this.canaryArm]) if (arm) purged += arm.cache.purgeExpired();
    return purged;
  }

  /** Drops every cached embedding (every cache policy); returns how many. Reuse settings stay. */
  clearCache(): number {
    let dropped = 0;
    for (const arm of [this.currentArm, this.canaryArm]) {
      if (!arm) continue;
      dropped += arm.cache.stats().size;
      arm.cache.clear();
    }
    return dropped;
  }

  private armEffects(name: ArmName): AgentEffects {
    const { options } = this;
    return {
      setReuse: (enabled, reason) => {
        // An administrator's "off" stands until an administrator turns reuse back on.
        if (enabled && this.heldOffByAdmin) return;
        const arm = name === 'current' ? this.currentArm : this.canaryArm;
        if (!arm) return;
        // Only the current policy's state is the cascade's; the canary's shows in /status and metrics.
        if (arm.cache.setReuse(enabled, reason) && name === 'current') void options.reportCacheState?.(enabled, reason);
      },
      expireStoredBefore: (mark) => (name === 'current' ? this.currentArm : this.canaryArm)?.cache.expireStoredBefore(mark),
      recordAction: (action) => options.metrics.agentActions.inc({ action, arm: name }),
      log: name === 'current' ? options.logger : options.logger.child({ cachePolicy: 'canary' }),
      emitEvent: name === 'current' ? options.emitEvent : (reason, message) => options.emitEvent(reason, `Canary cache policy: ${message}`),
    };
  }

  /** Starts, keeps or drops the canary arm to match the cache spec. */
  private syncCanary(cache: CacheSpec): void {
    const spec = canaryCacheSpec(cache);
    if (!spec) {
      this.canaryArm = undefined;
      return;
    }
    if (this.canaryArm && samePolicy(this.canaryArm.spec, spec)) return;
    this.canaryArm = new CacheArm('canary', spec, this.armEffects('canary'), this.options.clock);
    if (this.heldOffByAdmin) this.canaryArm.cache.setReuse(false, 'DisabledByOperator');
    this.lastVerdict = 'collecting';
  }

  /** Which cache policy serves this request: sessions (same prefix) always get the same one. */
  private armFor(features: Float32Array): CacheArm {
    const canary = this.canaryArm;
    const fraction = this.cascade.config.cache.canary?.fraction;
    if (!canary || fraction === undefined) return this.currentArm;
    const shared = Math.min(this.currentArm.spec.prefixLength, canary.spec.prefixLength);
    return prefixShare(features, shared) < fraction ? canary : this.currentArm;
  }

  async route(features: Float32Array, rows: number, hints: RequestHints | undefined): Promise<RouteResult> {
    const cascade = this.cascade;
    cascade.active += 1;
    try {
      return await this.routeOn(cascade, features, rows, hints);
    } finally {
      cascade.active -= 1;
    }
  }

  private async routeOn(cascade: Cascade, features: Float32Array, rows: number, hints: RequestHints | undefined): Promise<RouteResult> {
    const startedAt = performance.now();
    const request = ++this.requestCount;
    const { config } = cascade;
    const pinned = hints?.variant;
    const { decision, difficulty, distilled } = pinned ? this.pinnedDecision(cascade, pinned, hints) : await this.decide(cascade, features, rows, hints);
    this.options.metrics.policyDecisions.inc({ variant: decision.role, reason: decision.reason });
    const budget = requestBudget(effectiveSla(config.sla, hints).latencyBudgetMs, hints, cascade.forwarder.hardTimeoutMs, startedAt);
    // A pinned request asks for the variant's server, so it is always forwarded.
    const inRouter = pinned ? undefined : this.inRouterAnswer(cascade, decision.role, features, rows, distilled);
    const served = await this.serve(cascade, decision, features, rows, budget, request, inRouter);
    const answered = decision.escalation
      ? await this.escalate(cascade, decision.escalation, served, features, rows, budget)
      : { ...served, escalations: 0 };
    return {
      role: answered.role,
      rows,
      probabilities: answered.answer.probabilities,
      predictions: argmaxRows(answered.answer.probabilities, rows),
      cacheHit: answered.cacheHit,
      difficulty,
      latencyMs: performance.now() - startedAt,
      attempts: answered.attempts,
      escalations: answered.escalations,
      inRouter: answered.inRouter,
    };
  }

  /**
   * With policy.distilledInRouter, how a request routed to distilled is answered in the router:
   * the difficulty estimate's own distilled answer when it computed one, else a run of the local
   * copy. Undefined when the request is forwarded.
   */
  private inRouterAnswer(
    cascade: Cascade, role: Role, features: Float32Array, rows: number, estimated: VariantAnswer | undefined,
  ): (() => Promise<VariantAnswer>) | undefined {
    if (role !== 'distilled' || cascade.config.policy.distilledInRouter !== true) return undefined;
    if (estimated) return async () => estimated;
    const local = cascade.difficulty.answerDistilled;
    return local ? () => local(features, rows) : undefined;
  }

  /** The policy's choice for this request and the difficulty estimate it was given. */
  private async decide(
    cascade: Cascade, features: Float32Array, rows: number, hints: RequestHints | undefined,
  ): Promise<{ decision: PolicyDecision; difficulty: number; distilled?: VariantAnswer }> {
    const { config } = cascade;
    // Policies that ignore difficulty do not pay for the estimate.
    const estimate = IGNORES_DIFFICULTY.has(cascade.policy.type) ? { difficulty: 0.5 } : await cascade.difficulty.estimate(features, rows);
    const { difficulty } = estimate;
    const decision = await cascade.policy.decide({
      difficulty,
      ...(estimate.correctness ? { correctness: estimate.correctness } : {}),
      load: this.options.load.snapshot(),
      sla: config.sla,
      ...(hints ? { hints } : {}),
      allowed: allowedRoles(cascade.breakers),
    });
    return { decision, difficulty, ...(estimate.distilled ? { distilled: estimate.distilled } : {}) };
  }

  /**
   * A request that names its variant (x-cascade-variant): that role first, then the heuristic's
   * fallback order. Neither the policy nor the difficulty estimate runs; the heuristic is given
   * the neutral difficulty 0.5, which is also what the result reports.
   */
  private pinnedDecision(cascade: Cascade, role: Role, hints: RequestHints | undefined): { decision: PolicyDecision; difficulty: number; distilled?: VariantAnswer } {
    const difficulty = 0.5;
    const fallback = new HeuristicPolicy(cascade.profiles).decide({
      difficulty,
      load: this.options.load.snapshot(),
      sla: cascade.config.sla,
      ...(hints ? { hints } : {}),
      allowed: allowedRoles(cascade.breakers),
    });
    return { decision: { role, ranked: [role, ...fallback.ranked.filter((r) => r !== role)], reason: 'pinned' }, difficulty };
  }

  /**
   * One answer for the decision: from the prefix cache when the agent allows it, else fresh:
   * computed in the router when `inRouter` is given (falling back to forwarding if that fails),
   * otherwise forwarded with fallback.
   */
  private async serve(
    cascade: Cascade, decision: PolicyDecision, features: Float32Array, rows: number, budget: RequestBudget, request: number,
    inRouter: (() => Promise<VariantAnswer>) | undefined,
  ): Promise<Served> {
    const { config } = cascade;
    const wantsEmbedding = config.cache.enabled && rows === 1;
    const forwardToVariant = () =>
      cascade.forwarder.forward(decision.ranked, (client, timeoutMs) => client.infer(features, rows, timeoutMs, wantsEmbedding), budget.latencyMs, budget.startedAt, budget.deadlineMs);
    // serve() computes fresh at most once per request, so one flag says where that answer came from.
    let answeredHere = false;
    const forward = async (): Promise<ForwardResult> => {
      if (!inRouter) return forwardToVariant();
      let answer: VariantAnswer;
      try {
        answer = await inRouter();
      } catch (error) {
        this.options.logger.warn('the router could not answer with its distilled model; forwarding', { error: (error as Error).message });
        return forwardToVariant();
      }
      this.options.metrics.inRouterAnswers.inc({ variant: decision.role });
      answeredHere = true;
      return { role: decision.role, answer, attempts: [] };
    };
    const fresh = (result: ForwardResult): Served => ({ role: result.role, answer: result.answer, cacheHit: false, attempts: result.attempts, inRouter: answeredHere });

    if (!config.cache.enabled || rows !== 1) return fresh(await forward());
    const arm = this.armFor(features);
    const { cache, agent } = arm;
    const keyFor = (role: Role) => {
      const variant = config.variants.find((v) => v.role === role)!;
      return prefixKey({ cascade: `${config.cascade.namespace}/${config.cascade.name}`, modelVersion: modelIdentity(variant), variant: role, features, prefixLength: arm.spec.prefixLength });
    };
    const key = keyFor(decision.role);
    // One draw per request, hit or not: with a seeded source, which hits are sampled then depends
    // only on the request's number, so one request served differently (a fallback) does not shift
    // the sampling of every request after it.
    const sampled = agent.observer.shouldSample(this.random);
    if (cache.reuseEnabled) {
      const cached = cache.get(key);
      if (cached && !sampled) {
        const answer = await this.fromCache(cascade, decision.role, cached, budget);
        if (answer) {
          arm.countRequest(true);
          return { role: decision.role, answer, cacheHit: true, attempts: [], inRouter: false };
        }
      } else if (cached) {
        // A sampled hit: compute fresh as well, compare, and answer with the fresh result.
        const result = await forward();
        arm.countRequest(false);
        this.observe(arm, result.role === decision.role ? cached : undefined, result.answer.embedding, request);
        cache.set(result.role === decision.role ? key : keyFor(result.role), result.answer.embedding);
        return fresh(result);
      }
    }
    const shadow = cache.reuseEnabled ? undefined : cache.peek(key);
    const result = await forward();
    arm.countRequest(false);
    if (result.role === decision.role) this.observe(arm, shadow, result.answer.embedding, request);
    cache.set(result.role === decision.role ? key : keyFor(result.role), result.answer.embedding);
    return fresh(result);
  }

  /**
   * While the answer is unsure (its lowest row's top-class probability below the threshold), asks
   * the roles after the answering one in the escalation chain, through the forwarder with what is
   * left of the latency budget, and keeps the last answer. Stops at the end of the chain, when the
   * budget is spent, or when an escalated call fails (the last answer stands). Escalated calls
   * neither read nor fill the prefix cache.
   */
  private async escalate(
    cascade: Cascade, escalation: Escalation, served: Served, features: Float32Array, rows: number, budget: RequestBudget,
  ): Promise<Served & { escalations: number }> {
    const attempts = [...served.attempts];
    let current = served;
    let escalations = 0;
    // Probabilities are float32: a top probability of exactly the threshold is not below it.
    const threshold = Math.fround(escalation.belowConfidence);
    while (!(topProbability(current.answer.probabilities, rows) >= threshold)) {
      const at = escalation.chain.indexOf(current.role);
      if (at < 0 || at === escalation.chain.length - 1) break;
      if (!canFallBack(budget.latencyMs, performance.now() - budget.startedAt)) break;
      let result: ForwardResult;
      try {
        result = await cascade.forwarder.forward(escalation.chain.slice(at + 1), (client, timeoutMs) => client.infer(features, rows, timeoutMs, false), budget.latencyMs, budget.startedAt, budget.deadlineMs);
      } catch (error) {
        if (!(error instanceof RoutingError)) throw error;
        attempts.push(...error.attempts);
        this.options.logger.debug('escalation failed; answering with the previous variant', { from: current.role, error: error.message });
        break;
      }
      attempts.push(...result.attempts);
      this.options.metrics.escalations.inc({ from: current.role, to: result.role });
      escalations += 1;
      current = { role: result.role, answer: result.answer, cacheHit: false, attempts, inRouter: false };
    }
    return { ...current, attempts, escalations };
  }

  /** The chosen variant's head on a cached embedding: locally when its head file is here, else on the variant. */
  private async fromCache(cascade: Cascade, role: Role, embedding: Float32Array, budget: RequestBudget): Promise<VariantAnswer | undefined> {
    const head = cascade.heads[role];
    if (head) return { rows: 1, embedding, probabilities: await head.run(embedding, 1) };
    // Not through the forwarder: a head-only call must not feed the variant's latency estimate.
    // Its timeout leaves half the deadline for the fresh inference that follows a failure.
    const elapsedMs = performance.now() - budget.startedAt;
    const timeoutMs = Math.min(attemptTimeoutMs({ budgetMs: budget.latencyMs, elapsedMs, floorMs: cascade.forwarder.attemptTimeoutFloorMs }), Math.floor((budget.deadlineMs - elapsedMs) / 2));
    if (timeoutMs < 1) return undefined;
    try {
      return await cascade.clients[role].head(embedding, 1, timeoutMs);
    } catch {
      return undefined; // fresh inference follows
    }
  }

  private observe(arm: CacheArm, cached: Float32Array | undefined, fresh: Float32Array, request: number): void {
    if (!cached || cached.length !== fresh.length) return;
    const value = divergence(arm.spec.drift.metric, cached, fresh);
    this.options.metrics.divergence.observe(value);
    arm.countSample(value);
    this.divergenceLog.push({ request, divergence: value, reuse: arm.cache.reuseEnabled, arm: arm.name });
    if (this.divergenceLog.length >= 40_000) this.divergenceLog.splice(0, 20_000);
    arm.agent.observe({ divergence: value, request, mark: arm.cache.mark() });
    if (this.canaryArm) this.checkCanaryVerdict();
  }
}

/**
 * What one request may spend: `latencyMs` is the latency it should get (the SLA p99, or the
 * client's x-latency-budget-ms); `deadlineMs` is when it is answered 504 at the latest. A client
 * that states its budget stops waiting then, so the budget is its deadline; otherwise the router's
 * hard timeout is, since a late answer beats an error.
 */
interface RequestBudget {
  latencyMs: number;
  deadlineMs: number;
  startedAt: number;
}

function requestBudget(latencyMs: number, hints: RequestHints | undefined, hardTimeoutMs: number, startedAt: number): RequestBudget {
  const stated = hints?.latencyBudgetMs;
  return { latencyMs, deadlineMs: stated !== undefined ? Math.min(stated, hardTimeoutMs) : hardTimeoutMs, startedAt };
}
