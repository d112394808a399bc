import assert from 'node:assert/strict';
import {
  allowedRoles, CircuitBreaker, createBreakers, type BreakerState, type CircuitBreakerOptions,
} from '../../router-sidecar/forwarding/circuit-breaker.js';
import { RetryBudget } from '../../router-sidecar/forwarding/retry-budget.js';
import { attemptTimeoutMs, canFallBack } from '../../router-sidecar/forwarding/timeouts.js';

function manualClock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

describe('CircuitBreaker', () => {
  function breaker(options: CircuitBreakerOptions = {}) {
    const clock = manualClock(1_000);
    const transitions: string[] = [];
    const cb = new CircuitBreaker({
      failureThreshold: 3, coolDownMs: 1_000, clock: clock.now, onStateChange: (from, to) => transitions.push(`${from}->${to}`), ...options,
    });
    return { cb, clock, transitions };
  }

  it('gives back an unused half-open probe', () => {
    const { cb, clock } = breaker();
    for (let i = 0; i < 3; i++) cb.onFailure();
    clock.advance(1_000);
    assert.equal(cb.tryAcquire(), true);
    assert.equal(cb.allows(), false, 'one probe at a time');
    cb.release();
    assert.equal(cb.allows(), true);
    assert.equal(cb.state(), 'half-open');
  });

  it('stays closed below the threshold and resets the count on success', () => {
    const { cb } = breaker();
    cb.onFailure();
    cb.onFailure();
    cb.onSuccess();
    cb.onFailure();
    cb.onFailure();
    assert.equal(cb.state(), 'closed');
    assert.equal(cb.tryAcquire(), true);
  });

  it('opens after N consecutive failures and refuses requests during the cool-down', () => {
    const { cb, clock, transitions } = breaker();
    for (let i = 0; i < 3; i++) cb.onFailure();
    assert.equal(cb.state(), 'open');
    assert.equal(cb.tryAcquire(), false);
    clock.advance(999);
    assert.equal(cb.allows(), false);
    assert.deepEqual(transitions, ['closed->open']);
  });

  it('allows exactly one probe when half-open, and closes on its success', () => {
    const { cb, clock, transitions } = breaker();
    for (let i = 0; i < 3; i++) cb.onFailure();
    clock.advance(1_000);
    assert.equal(cb.state(), 'half-open');
    assert.equal(cb.allows(), true);
    assert.equal(cb.tryAcquire(), true);
    assert.equal(cb.allows(), false);
    assert.equal(cb.tryAcquire(), false, 'a second request waits for the probe');
    cb.onSuccess();
    assert.equal(cb.state(), 'closed');
    assert.equal(cb.tryAcquire(), true);
    assert.equal(cb.tryAcquire(), true);
    assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('re-opens for a full cool-down when the probe fails', () => {
    const { cb, clock, transitions } = breaker();
    for (let i = 0; i < 3; i++) cb.onFailure();
    clock.advance(1_500);
    assert.equal(cb.tryAcquire(), true);
    clock.advance(200);
    cb.onFailure();
    assert.equal(cb.state(), 'open');
    clock.advance(999);
    assert.equal(cb.tryAcquire(), false);
    clock.advance(1);
    assert.equal(cb.tryAcquire(), true);
    assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->open', 'open->half-open']);
  });

  it('needs the full threshold again after closing', () => {
    const { cb, clock } = breaker();
    for (let i = 0; i < 3; i++) cb.onFailure();
    clock.advance(1_000);
    cb.tryAcquire();
    cb.onSuccess();
    cb.onFailure();
    cb.onFailure();
    assert.equal(cb.state(), 'closed');
    cb.onFailure();
    assert.equal(cb.state(), 'open');
  });

  it('ignores late failures while open, so they do not extend the cool-down', () => {
    const { cb, clock } = breaker();
    for (let i = 0; i < 3; i++) cb.onFailure();
    clock.advance(900);
    cb.onFailure();
    clock.advance(100);
    assert.equal(cb.state(), 'half-open');
  });

  it('frees a lost probe after the probe timeout', () => {
    const { cb, clock } = breaker({ probeTimeoutMs: 300 });
    for (let i = 0; i < 3; i++) cb.onFailure();
    clock.advance(1_000);
    assert.equal(cb.tryAcquire(), true);
    clock.advance(299);
    assert.equal(cb.tryAcquire(), false);
    clock.advance(1);
    assert.equal(cb.tryAcquire(), true);
  });

  it('rejects a threshold below 1', () => {
    assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), RangeError);
  });

  it('keeps one breaker per role and lists the roles that allow requests', () => {
    const clock = manualClock(1);
    const seen: [string, BreakerState, BreakerState][] = [];
    const breakers = createBreakers({ failureThreshold: 1, coolDownMs: 100, clock: clock.now, onStateChange: (role, from, to) => seen.push([role, from, to]) });
    breakers.pruned.onFailure();
    breakers.full.onFailure();
    assert.deepEqual([...allowedRoles(breakers)], ['quantized', 'distilled']);
    assert.deepEqual(seen, [['pruned', 'closed', 'open'], ['full', 'closed', 'open']]);
    clock.advance(100);
    assert.deepEqual([...allowedRoles(breakers)], ['quantized', 'pruned', 'distilled', 'full'], 'half-open breakers allow their probe');
    breakers.full.tryAcquire();
    assert.deepEqual([...allowedRoles(breakers)], ['quantized', 'pruned', 'distilled']);
  });
});

describe('RetryBudget', () => {
  it('allows retries in flight up to max(ratio x requests in flight, minConcurrent)', () => {
    const budget = new RetryBudget({ ratio: 0.2, minConcurrent: 3 });
    const requests = Array.from({ length: 40 }, () => budget.startRequest());
    const retries = [];
    for (let retry = budget.tryRetry(); retry; retry = budget.tryRetry()) retries.push(retry);
    assert.equal(retries.length, 8, '20% of 40 requests in flight');
    assert.deepEqual(budget.stats(), { activeRequests: 40, activeRetries: 8, allowance: 8, retries: 8, refused: 1, peakActiveRetries: 8 });
    for (const end of requests.slice(0, 30)) end();
    assert.equal(budget.tryRetry(), undefined, 'the 8 retries still in flight exceed the minimum of 3');
    for (const end of retries) end();
    assert.equal(budget.stats().activeRetries, 0);
    assert.ok(budget.tryRetry(), 'a slot is free again once retries end');
  });

  it('lets a quiet router have minConcurrent retries in flight', () => {
    const budget = new RetryBudget({ ratio: 0.2, minConcurrent: 3 });
    const end = budget.startRequest();
    const granted = [budget.tryRetry(), budget.tryRetry(), budget.tryRetry(), budget.tryRetry()];
    assert.deepEqual(granted.map(Boolean), [true, true, true, false]);
    end();
  });

  it('releases each slot once, however often its release is called', () => {
    const budget = new RetryBudget({ ratio: 0, minConcurrent: 1 });
    const end = budget.startRequest();
    const retry = budget.tryRetry()!;
    retry();
    retry();
    end();
    end();
    assert.deepEqual(budget.stats(), { activeRequests: 0, activeRetries: 0, allowance: 1, retries: 1, refused: 0, peakActiveRetries: 1 });
  });

  it('rejects bad options', () => {
    assert.throws(() => new RetryBudget({ ratio: -1 }), /ratio must be/);
    assert.throws(() => new RetryBudget({ ratio: Number.POSITIVE_INFINITY }), /ratio must be/);
    assert.throws(() => new RetryBudget({ minConcurrent: 1.5 }), /minConcurrent must be/);
  });
});

describe('attempt timeouts', () => {
  const tight = { multiplier: 3, floorMs: 5 };

  it('cuts the budget to a multiple of the variant p99', () => {
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: 2, ...tight }), 6);
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: 2, multiplier: 5, floorMs: 5 }), 10);
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: 20, ...tight }), 40, 'never beyond the budget');
    assert.equal(attemptTimeoutMs({ budgetMs: 100, p99Ms: 10 }), 40, 'default multiplier 4');
  });

  it('uses the budget left when the p99 is unknown', () => {
    assert.equal(attemptTimeoutMs({ budgetMs: 40 }), 40);
    assert.equal(attemptTimeoutMs({ budgetMs: 40, elapsedMs: 15 }), 25);
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: NaN }), 40);
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: 0 }), 40);
  });

  it('never goes below the floor', () => {
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: 0.2, ...tight }), 5);
    assert.equal(attemptTimeoutMs({ budgetMs: 40, elapsedMs: 39, p99Ms: 10, ...tight }), 5);
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: 0.2 }), 20, 'default floor 20 ms');
    assert.equal(attemptTimeoutMs({ budgetMs: 2, floorMs: 3 }), 3);
  });

  it('rounds up to whole milliseconds', () => {
    assert.equal(attemptTimeoutMs({ budgetMs: 40, p99Ms: 2.1, ...tight }), 7);
  });

  it('falls back only while at least the floor is left', () => {
    assert.equal(canFallBack(40, 35, 5), true);
    assert.equal(canFallBack(40, 35.5, 5), false);
    assert.equal(canFallBack(40, 20), true);
    assert.equal(canFallBack(40, 20.5), false, 'default floor 20 ms');
    assert.equal(canFallBack(40, 30, 12), false);
  });
});
