// The overload guard: while the router's event loop runs late it refuses a growing, evenly spread
// share of new requests with 429, and admits everything again once it keeps up.
import { strict as assert } from 'node:assert';
import { OverloadGuard, startLoopDelaySampler } from '../../router-sidecar/load/overload-guard.js';
import { createRouterServer } from '../../router-sidecar/server.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { fakeRouter, PROFILES, quiet } from '../support/fake-router.js';
import { metricValue } from '../support/operator.js';

const refusals = (guard: OverloadGuard, requests: number) => {
  const pattern: boolean[] = [];
  for (let i = 0; i < requests; i++) pattern.push(!guard.admit());
  return pattern;
};

describe('OverloadGuard', () => {
  it('admits every request while the loop is on time or only somewhat late', () => {
    const guard = new OverloadGuard({ maxDelayMs: 25 });
    for (const delay of [0, 3, 24.9, 25]) guard.observe(delay);
    assert.equal(guard.shedFraction, 0);
    assert.equal(refusals(guard, 100).filter(Boolean).length, 0);
  });

  it('sheds one more step per overloaded window, spread evenly, up to the cap', () => {
    const guard = new OverloadGuard({ maxDelayMs: 25, step: 0.1, maxShedFraction: 0.9, sustainWindows: 2 });
    guard.observe(40);
    assert.equal(guard.shedFraction, 0, 'one late window (a stall) sheds nothing');
    guard.observe(10);
    guard.observe(40);
    assert.equal(guard.shedFraction, 0, 'nor one late window after an on-time one');
    for (let i = 0; i < 3; i++) guard.observe(26);
    assert.ok(Math.abs(guard.shedFraction - 0.3) < 1e-9, 'slightly late: a step per window');
    const pattern = refusals(guard, 100);
    assert.equal(pattern.filter(Boolean).length, 30);
    for (let i = 0; i + 1 < pattern.length; i++) assert.ok(!(pattern[i] && pattern[i + 1]), `requests ${i} and ${i + 1} both refused at a 30% share`);
    guard.observe(100);
    assert.ok(Math.abs(guard.shedFraction - 0.75) < 1e-9, '4x too late: 1 - 25/100 at once');
    guard.observe(1000);
    assert.ok(Math.abs(guard.shedFraction - 0.9) < 1e-9, 'capped: some requests always get through');
    assert.equal(refusals(guard, 100).filter(Boolean).length, 90);
  });

  it('holds its share between half the limit and the limit, and lets go below half', () => {
    const guard = new OverloadGuard({ maxDelayMs: 20, step: 0.25, sustainWindows: 1 });
    guard.observe(21);
    guard.observe(21);
    guard.observe(15); // between 10 and 20: hold
    assert.equal(guard.shedFraction, 0.5);
    guard.observe(9);
    assert.equal(guard.shedFraction, 0.25);
    guard.observe(0);
    assert.equal(guard.shedFraction, 0);
    assert.equal(refusals(guard, 50).filter(Boolean).length, 0);
  });

  it('says why a request was refused, with the measured delay and the limit', () => {
    const guard = new OverloadGuard({ maxDelayMs: 25, sustainWindows: 1 });
    guard.observe(61.4);
    assert.match(guard.reason(), /event loop runs 61 ms late, over the 25 ms limit\) and refuses 59% of requests; retry later/);
  });

  it('rejects settings that would never shed or always shed', () => {
    assert.throws(() => new OverloadGuard({ maxDelayMs: 0 }), /maxDelayMs must be > 0/);
    assert.throws(() => new OverloadGuard({ maxDelayMs: 25, maxShedFraction: 1 }), /maxShedFraction must be in \(0, 1\)/);
    assert.throws(() => new OverloadGuard({ maxDelayMs: 25, step: 0 }), /step must be in \(0, 1\]/);
    assert.throws(() => new OverloadGuard({ maxDelayMs: 25, sustainWindows: 0 }), /sustainWindows must be an integer >= 1/);
  });
});

describe('event-loop delay sampler', () => {
  it('reports a blocked loop as late and a free one as on time', async () => {
    const windows: number[] = [];
    const stop = startLoopDelaySampler((delay) => windows.push(delay), 5, 50);
    try {
      await new Promise((resolve) => setTimeout(resolve, 120));
      const calm = windows.length;
      const until = performance.now() + 150;
      while (performance.now() < until) {
        // blocked
      }
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.ok(calm >= 1, 'windows were reported while calm');
      const sorted = windows.slice(0, calm).sort((a, b) => a - b);
      assert.ok(sorted[Math.floor(sorted.length / 2)]! < 10, `calm windows: ${windows.slice(0, calm).join(', ')} ms`);
      assert.ok(Math.max(...windows.slice(calm)) > 25, `after a 150 ms block: ${windows.slice(calm).join(', ')} ms`);
    } finally {
      stop();
    }
  });
});

describe('router under overload over HTTP', () => {
  it('refuses the guard\'s share of inference requests with 429 and Retry-After, before parsing; health stays up', async () => {
    const guard = new OverloadGuard({ maxDelayMs: 25, step: 0.5, sustainWindows: 1 });
    guard.observe(30); // one step: half of the requests are refused
    const fake = fakeRouter(new StaticPolicy('distilled', PROFILES), {});
    const app = createRouterServer({ router: fake.router, metrics: fake.metrics, logger: quiet, bodyLimitBytes: 1024 * 1024, ready: () => true, load: () => ({}), overload: guard });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 10; i++) {
        // Malformed bodies too: a refused request is turned away before its body is read.
        const payload = i % 2 === 0 ? { features: [[0.1, 0.2]] } : '{"features": [[0.1,';
        const response = await app.inject({ method: 'POST', url: '/predict', payload, headers: { 'content-type': 'application/json' } });
        codes.push(response.statusCode);
        if (response.statusCode === 429) {
          assert.equal(response.headers['retry-after'], '1');
          assert.match(response.json<{ error: string }>().error, /the router is overloaded/);
        }
      }
      assert.deepEqual(codes, [200, 429, 200, 429, 200, 429, 200, 429, 200, 429]);
      const infer = await app.inject({ method: 'POST', url: `/v2/models/${fake.router.config.cascade.name}/infer`, payload: { inputs: [{ name: 'features', shape: [1, 2], datatype: 'FP32', data: [0.1, 0.2] }] } });
      assert.equal(infer.statusCode, 200); // the 11th request: admitted
      const refused = await app.inject({ method: 'POST', url: `/v2/models/${fake.router.config.cascade.name}/infer`, payload: {} });
      assert.equal(refused.statusCode, 429);
      for (let i = 0; i < 4; i++) assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      const status = await app.inject({ method: 'GET', url: '/status' });
      assert.equal(status.statusCode, 200);
      assert.deepEqual(status.json<{ overload_guard: unknown }>().overload_guard, { limit_ms: 25, shed_fraction: 0.5 });
      const text = await fake.metrics.registry.metrics();
      assert.equal(metricValue(text, 'inference_cascade_router_overload_shed_total'), 6);
      assert.equal(metricValue(text, 'inference_cascade_router_requests_total', { code: '429' }), 6);
    } finally {
      await app.close();
    }
  });
});
