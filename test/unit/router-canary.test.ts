// A canary cache policy: the verdict rule, the session split and a Router serving two policies.
import { strict as assert } from 'node:assert';
import { seededRandom } from '../../common/random.js';
import type { CacheSpec } from '../../crds/types.js';
import { canaryCacheSpec, samePolicy } from '../../router-sidecar/cache/cache-arm.js';
import { wilsonInterval } from '../../common/wilson.js';
import { compareArms, type ArmCounts } from '../../router-sidecar/cache/canary-verdict.js';
import { prefixShare } from '../../router-sidecar/cache/prefix-key.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { CANARY_PROMOTABLE_EVENT } from '../../router-sidecar/router.js';
import { fakeRouter, PROFILES } from '../support/fake-router.js';
import { metricValue } from '../support/operator.js';

const arm = (requests: number, hits: number, samples: number, drifted: number): ArmCounts => ({ requests, hits, samples, drifted });

describe('canary verdict', () => {
  it('brackets a proportion with the Wilson interval', () => {
    const [low, high] = wilsonInterval(10, 100);
    assert.ok(low > 0.05 && low < 0.1 && high > 0.1 && high < 0.18, `${low} ${high}`);
    assert.deepEqual(wilsonInterval(0, 0), [0, 1]);
    assert.equal(wilsonInterval(0, 200)[0], 0);
    assert.ok(wilsonInterval(0, 200)[1] < 0.02);
  });

  const rule = { maxRisk: 0.05, minSamples: 100, hitRateTolerance: 0.01 };
  const cases: [string, ArmCounts, ArmCounts, string, RegExp][] = [
    ['collects until both arms have enough samples', arm(5000, 4000, 400, 4), arm(500, 420, 99, 0), 'collecting', /99 canary and 400 current samples/],
    ['keeps the current policy when the canary is riskier than maxRisk', arm(5000, 4000, 400, 4), arm(500, 450, 200, 30), 'keep-current', /exceeds maxRisk 5\.0%/],
    ['keeps the current policy when the canary reuses less', arm(5000, 4000, 400, 4), arm(500, 300, 200, 0), 'keep-current', /reuses less: hit rate 60\.0% vs 80\.0%/],
    ['promotes a canary within maxRisk that reuses as much', arm(5000, 4000, 400, 4), arm(500, 400, 300, 0), 'promote', /reuses at least as much/],
    ['promotes a safer canary when the current policy is over maxRisk', arm(5000, 4500, 400, 120), arm(500, 100, 300, 1), 'promote', /current policy is over maxRisk/],
  ];
  for (const [name, current, canary, verdict, reason] of cases) {
    it(name, () => {
      const result = compareArms(current, canary, rule);
      assert.equal(result.verdict, verdict);
      assert.match(result.reason, reason);
      assert.equal(result.canary.samples, canary.samples);
    });
  }
});

describe('prefixShare', () => {
  it('depends only on the (rounded) prefix and spreads sessions evenly', () => {
    assert.equal(prefixShare([0.1, 0.2, 9], 2), prefixShare([0.1, 0.2, -4], 2));
    assert.equal(prefixShare([0.1, 0.2], 2), prefixShare([0.100001, 0.2], 2));
    assert.notEqual(prefixShare([0.1, 0.2], 2), prefixShare([0.1, 0.3], 2));
    const random = seededRandom(7);
    let below = 0;
    for (let i = 0; i < 20_000; i++) if (prefixShare([random.gaussian(), random.gaussian()], 2) < 0.3) below++;
    assert.ok(Math.abs(below / 20_000 - 0.3) < 0.015, `${below / 20_000}`);
  });
});

describe('canary cache spec', () => {
  const cache: CacheSpec = { enabled: true, prefixLength: 8, ttlSeconds: 60, maxEntries: 10, ttlMode: 'adaptive', drift: { metric: 'cosine', threshold: 0.1, sampleRate: 0.1 } };
  it('lays the canary fields over the current policy', () => {
    assert.equal(canaryCacheSpec(cache), undefined);
    const spec = canaryCacheSpec({ ...cache, canary: { fraction: 0.2, ttlSeconds: 5, ttlMode: 'fixed' } })!;
    assert.deepEqual(spec, { ...cache, ttlSeconds: 5, ttlMode: 'fixed' });
    assert.ok(samePolicy(spec, { ...spec, canary: { fraction: 0.9 } }), 'the canary block itself is not part of a policy');
    assert.ok(!samePolicy(spec, { ...spec, prefixLength: 4 }));
  });
});

describe('Router with a canary cache policy', () => {
  // Sessions share the first two features; the embedding is the request itself, so reusing another
  // request's embedding diverges, and only a key over all four features is safe.
  function traffic(sessions: number, perSession: number, seed: number): Float32Array[] {
    const random = seededRandom(seed);
    const prefixes = Array.from({ length: sessions }, () => [random.gaussian(), random.gaussian()]);
    const requests: Float32Array[] = [];
    for (let i = 0; i < perSession; i++) {
      for (const [a, b] of prefixes) {
        const request = Float32Array.from([a!, b!, random.gaussian(), random.gaussian()]);
        requests.push(request, request);
      }
    }
    return requests;
  }

  it('splits sessions between the policies, compares them on the same traffic and says which to keep', async () => {
    const events: string[] = [];
    const cache: CacheSpec = {
      enabled: true, prefixLength: 2, ttlSeconds: 600, maxEntries: 10_000, ttlMode: 'fixed',
      drift: { metric: 'cosine', threshold: 0.05, sampleRate: 0.5, mode: 'observe' },
      canary: { fraction: 0.5, prefixLength: 4, maxRisk: 0.05 },
    };
    const random = seededRandom(3);
    const { router, metrics } = fakeRouter(new StaticPolicy('distilled', PROFILES), {}, {
      cache, inputDim: 4, embedding: (features) => Float32Array.from(features), random: () => random.next(),
      emitEvent: (reason) => { events.push(reason); },
    });
    for (const features of traffic(60, 20, 11)) await router.route(features, 1, undefined);
    const report = router.canary()!;
    assert.ok(report.current.requests > 300 && report.canary.requests > 300, `both arms serve: ${report.current.requests} / ${report.canary.requests}`);
    assert.equal(report.current.requests + report.canary.requests, 2400);
    assert.equal(report.canary.requests % 40, 0, 'every request of a session (40 each) goes to the same policy');
    assert.ok(report.current.risk > 0.5, `a two-feature key reuses other requests' embeddings: risk ${report.current.risk}`);
    assert.equal(report.canary.risk, 0, 'a four-feature key only reuses exact repeats');
    assert.ok(report.canary.hits > 0);
    assert.equal(report.verdict, 'promote');
    assert.match(report.reason, /current policy is over maxRisk/);
    assert.deepEqual(report.spec.prefixLength, 4);
    assert.deepEqual(events, [CANARY_PROMOTABLE_EVENT], 'one Event when the verdict is reached');
    metrics.setSources({ cache: () => router.cache.stats(), canary: () => ({ verdict: report.verdict, arms: { current: report.current, canary: report.canary } }), breaker: () => 'closed', inFlight: () => 0 });
    const text = await metrics.registry.metrics();
    assert.match(text, /inference_cascade_router_cache_canary_verdict\{verdict="promote"\} 1/);
    assert.match(text, new RegExp(`inference_cascade_router_cache_canary_requests_total\\{arm="canary",result="hit"\\} ${report.canary.hits}`));
  });

  it("counts each policy's agent actions under its own arm label, so the canary's do not read as the cascade's", async () => {
    const cache: CacheSpec = {
      enabled: true, prefixLength: 2, ttlSeconds: 60, maxEntries: 10_000,
      drift: { metric: 'cosine', threshold: 0.05, sampleRate: 0.5, mode: 'enforce' },
      canary: { fraction: 0.5, prefixLength: 2, ttlSeconds: 30 },
    };
    const random = seededRandom(5);
    const { router, metrics } = fakeRouter(new StaticPolicy('distilled', PROFILES), {}, {
      cache, inputDim: 4, embedding: (features) => Float32Array.from(features), random: () => random.next(),
    });
    for (const features of traffic(60, 20, 13)) await router.route(features, 1, undefined);
    metrics.setSources({ cache: () => router.cache.stats(), breaker: () => 'closed', inFlight: () => 0 });
    const text = await metrics.registry.metrics();
    // Both arms key on two features, so both see drift and both act; each under its own label.
    assert.ok(metricValue(text, 'inference_cascade_router_agent_actions_total', { action: 'disable', arm: 'current' }) >= 1, text);
    assert.ok(metricValue(text, 'inference_cascade_router_agent_actions_total', { action: 'disable', arm: 'canary' }) >= 1, text);
  });
});

describe('cache reuse gauge', () => {
  it('is one series labelled with the reason in force, so an alert can tell the drift agent from an administrator', async () => {
    const { router, metrics } = fakeRouter(new StaticPolicy('distilled', PROFILES), {}, { cacheEnabled: true });
    metrics.setSources({ cache: () => router.cache.stats(), breaker: () => 'closed', inFlight: () => 0 });
    const reuseSeries = async () => (await metrics.registry.metrics()).split('\n').filter((line) => line.startsWith('inference_cascade_router_cache_reuse_enabled{'));
    assert.deepEqual(await reuseSeries(), ['inference_cascade_router_cache_reuse_enabled{reason="Enabled"} 1']);
    router.setCacheReuse(false);
    assert.deepEqual(await reuseSeries(), ['inference_cascade_router_cache_reuse_enabled{reason="DisabledByOperator"} 0']);
    router.setCacheReuse(true);
    assert.deepEqual(await reuseSeries(), ['inference_cascade_router_cache_reuse_enabled{reason="EnabledByOperator"} 1']);
  });
});
