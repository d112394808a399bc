import { strict as assert } from 'node:assert';
import { ROLES, type Role } from '../../crds/types.js';
import { createBreakers } from '../../router-sidecar/forwarding/circuit-breaker.js';
import { Forwarder, RoutingError, type Call } from '../../router-sidecar/forwarding/forwarder.js';
import { RetryBudget } from '../../router-sidecar/forwarding/retry-budget.js';
import { LoadTracker } from '../../router-sidecar/load/load-tracker.js';
import { UpstreamError, type VariantAnswer, type VariantClient } from '../../router-sidecar/upstream.js';

type Behaviour = 'ok' | UpstreamError;

function setup(behaviour: Partial<Record<Role, Behaviour>>, maxInFlight = 64, retryBudget = new RetryBudget({ ratio: 1, minConcurrent: 100 }), attemptTimeoutFloorMs?: number) {
  let now = 0;
  const clock = () => now;
  const load = new LoadTracker({ clock });
  const breakers = createBreakers({ failureThreshold: 3, coolDownMs: 1000, clock });
  const clients = Object.fromEntries(ROLES.map((role) => [role, { role } as unknown as VariantClient])) as Record<Role, VariantClient>;
  const calls: Role[] = [];
  const call: Call = async (client) => {
    const role = (client as unknown as { role: Role }).role;
    calls.push(role);
    const outcome = behaviour[role] ?? 'ok';
    if (outcome !== 'ok') throw outcome;
    return { rows: 1, embedding: new Float32Array(0), probabilities: Float32Array.from([0.5, 0.5]) } satisfies VariantAnswer;
  };
  const forwarder = new Forwarder({
    clients,
    breakers,
    load,
    retryBudget,
    maxInFlightPerVariant: maxInFlight,
    hardTimeoutMs: 1000,
    now: clock,
    ...(attemptTimeoutFloorMs !== undefined ? { attemptTimeoutFloorMs } : {}),
  });
  return { forwarder, breakers, load, calls, call, retryBudget, advance: (ms: number) => (now += ms) };
}

const refused = () => new UpstreamError('connect', 'connect ECONNREFUSED');
const timedOut = () => new UpstreamError('timeout', 'did not answer within 20 ms');
const ranked: Role[] = ['distilled', 'pruned', 'quantized', 'full'];

describe('Forwarder', () => {
  it('falls back down the ranking and reports every attempt', async () => {
    const { forwarder, call, calls } = setup({ distilled: refused() });
    const result = await forwarder.forward(ranked, call, 40, 0);
    assert.equal(result.role, 'pruned');
    assert.deepEqual(calls, ['distilled', 'pruned']);
    assert.deepEqual(result.attempts.map((a) => a.result), ['connect', 'ok']);
  });

  it('opens a breaker on consecutive failures and then skips that variant', async () => {
    const { forwarder, call, calls, breakers } = setup({ distilled: refused() });
    for (let i = 0; i < 3; i++) await forwarder.forward(ranked, call, 40, 0);
    assert.equal(breakers.distilled.state(), 'open');
    calls.length = 0;
    const result = await forwarder.forward(ranked, call, 40, 0);
    assert.deepEqual(calls, ['pruned']);
    assert.equal(result.attempts[0]!.result, 'breaker-open');
  });

  it('does not open a breaker on timeouts (slowness is priced by the latency estimate)', async () => {
    const { forwarder, call, breakers } = setup({ distilled: timedOut() });
    for (let i = 0; i < 10; i++) assert.equal((await forwarder.forward(ranked, call, 40, 0)).role, 'pruned');
    assert.equal(breakers.distilled.state(), 'closed');
  });

  it('answers 429 when every variant is saturated', async () => {
    const { forwarder, call, load } = setup({}, 1);
    for (const role of ROLES) load.start(role);
    await assert.rejects(forwarder.forward(ranked, call, 40, 0), (error: unknown) => error instanceof RoutingError && error.statusCode === 429 && /every variant is saturated/.test(error.message));
  });

  it('does not retry a request a variant rejected as invalid (4xx), and says which', async () => {
    const { forwarder, call, calls } = setup({ distilled: new UpstreamError('status', 'variant distilled answered 400: bad shape', 400) });
    await assert.rejects(forwarder.forward(ranked, call, 40, 0), (error: unknown) => error instanceof RoutingError && error.statusCode === 502 && /rejected the request/.test(error.message));
    assert.deepEqual(calls, ['distilled']);
  });

  it("passes a variant's 413 or 422 refusal of the request itself on to the client", async () => {
    for (const status of [413, 422] as const) {
      const { forwarder, call, calls } = setup({ distilled: new UpstreamError('status', `variant distilled answered ${status}: row 0 overflows`, status) });
      await assert.rejects(forwarder.forward(ranked, call, 40, 0), (error: unknown) => error instanceof RoutingError && error.statusCode === status && /row 0 overflows/.test(error.message));
      assert.deepEqual(calls, ['distilled'], 'another variant would refuse it too');
    }
  });

  it('falls back after a fast failure even when the latency budget is spent, while the deadline lasts', async () => {
    const { forwarder, call, calls, advance } = setup({ distilled: refused() });
    advance(35); // the request waited 35 ms of its 40 ms budget before it was forwarded
    const result = await forwarder.forward(ranked, call, 40, 0);
    assert.equal(result.role, 'pruned');
    assert.deepEqual(calls, ['distilled', 'pruned']);
  });

  it('answers 504 when the last attempt timed out', async () => {
    const { forwarder, call } = setup(Object.fromEntries(ROLES.map((r) => [r, timedOut()])));
    await assert.rejects(forwarder.forward(ranked, call, 40, 0), (error: unknown) => error instanceof RoutingError && error.statusCode === 504);
  });

  it('moves on from a variant shedding load (429) without blaming it, and answers 429 when all shed', async () => {
    const shed = () => new UpstreamError('status', 'variant answered 429: busy', 429);
    const partly = setup({ distilled: shed() });
    assert.equal((await partly.forwarder.forward(ranked, partly.call, 40, 0)).role, 'pruned');
    assert.equal(partly.breakers.distilled.state(), 'closed');
    const all = setup(Object.fromEntries(ROLES.map((r) => [r, shed()])));
    await assert.rejects(all.forwarder.forward(ranked, all.call, 40, 0), (error: unknown) => error instanceof RoutingError && error.statusCode === 429);
  });

  it('a half-open probe that times out reopens the breaker', async () => {
    const behaviour: Partial<Record<Role, Behaviour>> = { distilled: refused() };
    const { forwarder, call, breakers, advance } = setup(behaviour);
    for (let i = 0; i < 3; i++) await forwarder.forward(ranked, call, 40, 0);
    assert.equal(breakers.distilled.state(), 'open');
    advance(1_000);
    assert.equal(breakers.distilled.state(), 'half-open');
    behaviour.distilled = timedOut();
    await forwarder.forward(ranked, call, 40, 1_000);
    assert.equal(breakers.distilled.state(), 'open');
  });

  it('answers 503 naming every failed attempt when no variant can answer', async () => {
    const { forwarder, call } = setup(Object.fromEntries(ROLES.map((r) => [r, refused()])));
    await assert.rejects(forwarder.forward(ranked, call, 40, 0), (error: unknown) => {
      assert.ok(error instanceof RoutingError);
      assert.equal(error.statusCode, 503);
      for (const role of ranked) assert.match(error.message, new RegExp(`${role} connect`));
      return true;
    });
  });

  it('gives no attempt more than the deadline leaves, and answers 504 by the deadline when variants hang', async () => {
    const { forwarder, advance } = setup({});
    let elapsed = 0;
    const timeouts: [Role, number][] = [];
    // A hung variant: the attempt lasts exactly as long as the router lets it.
    const hung: Call = async (client, timeoutMs) => {
      timeouts.push([(client as unknown as { role: Role }).role, timeoutMs]);
      advance(timeoutMs);
      elapsed += timeoutMs;
      throw timedOut();
    };
    await assert.rejects(forwarder.forward(ranked, hung, 40, 0, 100), (error: unknown) => error instanceof RoutingError && error.statusCode === 504);
    assert.deepEqual(timeouts, [['distilled', 40], ['pruned', 60]], 'the first try is cut at the latency budget; the last gets what is left of the deadline');
    assert.equal(elapsed, 100);
  });

  it("cuts an attempt at 4x the variant's p99, never below the configured floor", async () => {
    const firstTimeout = async (floorMs?: number) => {
      const { forwarder, load, advance } = setup({}, 64, undefined, floorMs);
      for (let i = 0; i < 50; i++) {
        const started = load.start('distilled');
        advance(2);
        load.finish('distilled', started, 'ok');
      }
      const timeouts: number[] = [];
      const hung: Call = async (_client, timeoutMs) => {
        timeouts.push(timeoutMs);
        advance(timeoutMs);
        throw timedOut();
      };
      await assert.rejects(forwarder.forward(ranked, hung, 500, 0, 1000));
      return timeouts[0];
    };
    assert.equal(await firstTimeout(), 20, 'the default floor, above 4 x 2 ms');
    assert.equal(await firstTimeout(5), 8, '4 x the 2 ms p99 once the floor is lower');
    assert.equal(await firstTimeout(300), 300);
  });

  it('caps the deadline at the hard timeout', async () => {
    const { forwarder, advance } = setup({});
    const timeouts: number[] = [];
    const hung: Call = async (_client, timeoutMs) => {
      timeouts.push(timeoutMs);
      advance(timeoutMs);
      throw timedOut();
    };
    await assert.rejects(forwarder.forward(['full'], hung, 40, 0, 60_000), (error: unknown) => error instanceof RoutingError && error.statusCode === 504);
    assert.deepEqual(timeouts, [1000]);
  });

  it('keeps retries in flight within max(20% of requests in flight, 3) while every variant fails', async () => {
    const budget = new RetryBudget({ ratio: 0.2, minConcurrent: 3 });
    const { forwarder } = setup({}, 64, budget);
    let retriesInFlight = 0;
    let peak = 0;
    let retried = 0;
    const requests = Array.from({ length: 50 }, async () => {
      let attempt = 0;
      const failing: Call = async () => {
        const isRetry = attempt++ > 0;
        if (isRetry) {
          retried += 1;
          peak = Math.max(peak, ++retriesInFlight);
        }
        await new Promise((resolve) => setImmediate(resolve));
        if (isRetry) retriesInFlight -= 1;
        throw timedOut();
      };
      return forwarder.forward(ranked, failing, 40, 0).then(
        () => 'answered',
        (error: unknown) => (error instanceof RoutingError ? error.statusCode : 'crash'),
      );
    });
    const outcomes = await Promise.all(requests);
    assert.ok(outcomes.every((o) => o === 503 || o === 504), `outcomes ${JSON.stringify(outcomes)}`);
    assert.ok(peak >= 3 && peak <= 10, `at most 10 retries (20% of 50) in flight at once, saw ${peak}`);
    assert.ok(outcomes.filter((o) => o === 503).length >= 40, 'requests over the budget end with 503 instead of retrying');
    assert.ok(retried > 0);
    assert.equal(budget.stats().activeRequests, 0);
    assert.equal(budget.stats().activeRetries, 0);
  });
});
