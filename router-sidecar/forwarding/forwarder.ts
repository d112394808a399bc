// Sends a request to the policy's first choice and falls back down its ranking on a timeout, an
// error or an open breaker while the request's latency budget lasts, within the retry budget. Every
// request ends in an answer or a RoutingError that says why (429 when every variant is
// saturated, 503 when none could answer, 504 when the request's deadline passed), and no attempt
// outlives the deadline.
import type { Role } from '../../crds/types.js';
import type { LoadTracker } from '../load/load-tracker.js';
import { UpstreamError, type VariantAnswer, type VariantClient } from '../upstream.js';
import type { CircuitBreakers } from './circuit-breaker.js';
import type { RetryBudget } from './retry-budget.js';
import { attemptTimeoutMs, canFallBack, DEFAULT_TIMEOUT_FLOOR_MS } from './timeouts.js';

export type AttemptResult = 'ok' | 'timeout' | 'connect' | 'status' | 'protocol' | 'breaker-open' | 'saturated' | 'shed';

export interface Attempt {
  role: Role;
  result: AttemptResult;
  error?: string;
}

export class RoutingError extends Error {
  override name = 'RoutingError';
  constructor(
    readonly statusCode: 413 | 422 | 429 | 502 | 503 | 504,
    message: string,
    readonly attempts: readonly Attempt[],
  ) {
    super(message);
  }
}

export interface ForwardResult {
  role: Role;
  answer: VariantAnswer;
  attempts: Attempt[];
}

export interface ForwarderDeps {
  clients: Record<Role, VariantClient>;
  breakers: CircuitBreakers;
  load: LoadTracker;
  retryBudget: RetryBudget;
  /** Requests in flight at one variant beyond which the router sends it no more. */
  maxInFlightPerVariant: number;
  /** The longest the router ever waits for one request, whatever its SLA or deadline. */
  hardTimeoutMs: number;
  /** The shortest wait for one attempt that is not the last (DEFAULT_TIMEOUT_FLOOR_MS when omitted). */
  attemptTimeoutFloorMs?: number;
  now: () => number;
  onAttempt?: (attempt: Attempt) => void;
}

export type Call = (client: VariantClient, timeoutMs: number) => Promise<VariantAnswer>;

export class Forwarder {
  constructor(private readonly deps: ForwarderDeps) {}

  get hardTimeoutMs(): number {
    return this.deps.hardTimeoutMs;
  }

  get attemptTimeoutFloorMs(): number {
    return this.deps.attemptTimeoutFloorMs ?? DEFAULT_TIMEOUT_FLOOR_MS;
  }

  /**
   * `budgetMs` is the latency the request should get (it sets how soon a slow variant is given up
   * for the next); `deadlineMs` (measured from `startedAt`, capped by the hard timeout) is when the
   * client stops waiting: the last attempt may use all of it, none goes beyond it.
   */
  async forward(ranked: readonly Role[], call: Call, budgetMs: number, startedAt: number, deadlineMs = this.deps.hardTimeoutMs): Promise<ForwardResult> {
    const endRequest = this.deps.retryBudget.startRequest();
    try {
      return await this.attempt(ranked, call, budgetMs, startedAt, Math.min(deadlineMs, this.deps.hardTimeoutMs));
    } finally {
      endRequest();
    }
  }

  private async attempt(ranked: readonly Role[], call: Call, budgetMs: number, startedAt: number, deadlineMs: number): Promise<ForwardResult> {
    const { breakers, load, retryBudget } = this.deps;
    const attempts: Attempt[] = [];
    const note = (attempt: Attempt) => {
      attempts.push(attempt);
      this.deps.onAttempt?.(attempt);
    };
    let tried = 0;
    for (let index = 0; index < ranked.length; index++) {
      const role = ranked[index]!;
      if (load.variant(role).inFlight >= this.deps.maxInFlightPerVariant) {
        note({ role, result: 'saturated' });
        continue;
      }
      const breaker = breakers[role];
      if (!breaker.allows()) {
        note({ role, result: 'breaker-open' });
        continue;
      }
      const elapsed = this.deps.now() - startedAt;
      const deadlineLeftMs = Math.floor(deadlineMs - elapsed);
      if (deadlineLeftMs < 1) {
        note({ role, result: 'timeout', error: `the request's ${deadlineMs} ms deadline passed before this variant was tried` });
        break;
      }
      const floorMs = this.attemptTimeoutFloorMs;
      const budgetLeft = canFallBack(budgetMs, elapsed, floorMs);
      if (!breaker.tryAcquire()) {
        note({ role, result: 'breaker-open' });
        continue;
      }
      const endRetry = tried > 0 ? retryBudget.tryRetry() : () => undefined;
      if (!endRetry) {
        breaker.release();
        throw new RoutingError(503, `no variant answered and the retry budget is spent: ${summary(attempts)}`, attempts);
      }
      // The latency budget decides how soon to give up on a variant while another could still be
      // tried; the last attempt waits up to the deadline: a late answer beats an error.
      const last = index === ranked.length - 1 || !budgetLeft;
      const timeoutMs = last
        ? deadlineLeftMs
        : Math.min(deadlineLeftMs, attemptTimeoutMs({ budgetMs, elapsedMs: elapsed, p99Ms: load.variant(role).latencyP99Ms, floorMs }));
      tried += 1;
      const started = load.start(role);
      try {
        const answer = await call(this.deps.clients[role], timeoutMs);
        load.finish(role, started, 'ok');
        breaker.onSuccess();
        note({ role, result: 'ok' });
        return { role, answer, attempts };
      } catch (error) {
        const upstream = error instanceof UpstreamError ? error : new UpstreamError('protocol', (error as Error).message);
        load.finish(role, started, upstream.kind === 'timeout' ? 'timeout' : 'error');
        if (upstream.kind === 'status' && upstream.statusCode === 429) {
          breaker.onSuccess(); // shedding load is the variant working as designed
          note({ role, result: 'shed', error: upstream.message });
          continue;
        }
        if (upstream.kind === 'status' && upstream.statusCode !== undefined && upstream.statusCode < 500) {
          breaker.onSuccess();
          note({ role, result: 'status', error: upstream.message });
          // Too large once re-encoded for the variant (413), or inputs the model cannot compute on
          // (422): the client's request is the problem, and says so. Any other 4xx is a router/variant mismatch.
          const passed = upstream.statusCode === 413 || upstream.statusCode === 422 ? upstream.statusCode : 502;
          throw new RoutingError(passed, `variant ${role} rejected the request: ${upstream.message}`, attempts);
        }
        // The breaker is for variants that fail (refused connections, 5xx, broken answers). A
        // timeout is as often the router's own stall or a burst as a broken variant; slowness is
        // already priced in by the latency estimate that timeouts feed.
        // A timed-out half-open probe still counts: the variant has not shown it is back.
        if (upstream.kind !== 'timeout' || breaker.state() === 'half-open') breaker.onFailure();
        note({ role, result: upstream.kind, error: upstream.message });
        // A failure that came fast (a refused connection, a 5xx) leaves time to try the next variant
        // even once the latency budget is spent: the deadline, not the budget, ends the request.
        if (!canFallBack(deadlineMs, this.deps.now() - startedAt)) break;
      } finally {
        endRetry();
      }
    }
    if (attempts.every((a) => a.result === 'saturated' || a.result === 'shed')) {
      throw new RoutingError(429, `every variant is saturated; retry later (${summary(attempts)})`, attempts);
    }
    const timedOut = attempts.length > 0 && attempts[attempts.length - 1]!.result === 'timeout';
    throw new RoutingError(timedOut ? 504 : 503, `no variant could answer: ${summary(attempts)}`, attempts);
  }
}

function summary(attempts: readonly Attempt[]): string {
  return attempts.map((a) => `${a.role} ${a.result}${a.error ? ` (${a.error})` : ''}`).join('; ');
}
