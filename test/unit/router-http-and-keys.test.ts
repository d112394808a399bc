// The router over HTTP: saturation answers 429 with Retry-After, so the client backs off instead
// of retrying at once; admin endpoints live on their own port behind a token; cache keys follow
// the model.
import { strict as assert } from 'node:assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdminServer } from '../../router-sidecar/admin-server.js';
import { createRouterServer } from '../../router-sidecar/server.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { UpstreamError } from '../../router-sidecar/upstream.js';
import { modelIdentity } from '../../router-sidecar/cache/prefix-key.js';
import { fakeRouter, PROFILES, quiet } from '../support/fake-router.js';
import { metricValue } from '../support/operator.js';

type FakeRouter = ReturnType<typeof fakeRouter>;
const serve = ({ router, metrics }: FakeRouter) =>
  createRouterServer({ router, metrics, logger: quiet, bodyLimitBytes: 1024 * 1024, ready: () => true, load: () => ({}) });

describe('router saturation over HTTP', () => {
  it('answers 429 with Retry-After and the reason when every variant sheds load', async () => {
    const shed = new UpstreamError('status', 'variant answered 429: busy', 429);
    const app = serve(fakeRouter(new StaticPolicy('distilled', PROFILES), { quantized: shed, pruned: shed, distilled: shed, full: shed }));
    try {
      const response = await app.inject({ method: 'POST', url: '/predict', payload: { features: [[0.1, 0.2]] } });
      assert.equal(response.statusCode, 429);
      assert.equal(response.headers['retry-after'], '1');
      assert.match(response.json<{ error: string }>().error, /every variant is saturated; retry later/);
      const healthy = serve(fakeRouter(new StaticPolicy('distilled', PROFILES), {}));
      const served = await healthy.inject({ method: 'POST', url: '/predict', payload: { features: [[0.1, 0.2]] } });
      assert.equal(served.statusCode, 200);
      assert.equal(served.headers['retry-after'], undefined);
      await healthy.close();
    } finally {
      await app.close();
    }
  });
});

describe('router request metrics', () => {
  it('count every inference response once by code: answered, failed, and bad input rejected before routing', async () => {
    const fake = fakeRouter(new StaticPolicy('distilled', PROFILES), {});
    const app = serve(fake);
    const broken = fakeRouter(new StaticPolicy('distilled', PROFILES), { quantized: new UpstreamError('connect', 'refused'), pruned: new UpstreamError('connect', 'refused'), distilled: new UpstreamError('connect', 'refused'), full: new UpstreamError('connect', 'refused') });
    const failing = serve(broken);
    try {
      const post = (target: typeof app, payload: unknown, url = '/predict') => target.inject({ method: 'POST', url, payload: payload as string, headers: { 'content-type': 'application/json' } });
      assert.equal((await post(app, { features: [[0.1, 0.2]] })).statusCode, 200);
      assert.equal((await post(app, { features: [[0.1, 0.2]] }, `/v2/models/${fake.router.config.cascade.name}/infer`)).statusCode, 400);
      assert.equal((await post(app, '{"features": [[0.1,')).statusCode, 400);
      assert.equal((await post(app, { features: [[0.1, 0.2, 0.3]] })).statusCode, 400);
      assert.equal((await post(app, { features: [[0.1, 0.2]] }, '/v2/models/other/infer')).statusCode, 404);
      assert.equal((await post(app, { features: [Array(400_000).fill(0.5)] })).statusCode, 413);
      const text = await fake.metrics.registry.metrics();
      assert.equal(metricValue(text, 'inference_cascade_router_requests_total', { code: '200', variant: 'distilled', cache: 'miss' }), 1);
      assert.equal(metricValue(text, 'inference_cascade_router_requests_total', { code: '400', variant: 'none' }), 3);
      assert.equal(metricValue(text, 'inference_cascade_router_requests_total', { code: '404' }), 1);
      assert.equal(metricValue(text, 'inference_cascade_router_requests_total', { code: '413' }), 1);
      assert.equal(metricValue(text, 'inference_cascade_router_request_duration_seconds_count'), 1, 'latency is of answered requests');
      const failed = await post(failing, { features: [[0.1, 0.2]] });
      assert.ok(failed.statusCode >= 500, String(failed.statusCode));
      assert.equal(metricValue(await broken.metrics.registry.metrics(), 'inference_cascade_router_requests_total', { code: String(failed.statusCode), variant: 'none' }), 1);
    } finally {
      await app.close();
      await failing.close();
    }
  });
});

describe('router request metrics, abandoned requests', () => {
  it('counts a request whose client gave up before the answer once, as 499', async () => {
    const fake = fakeRouter(new StaticPolicy('distilled', PROFILES), {});
    const route = fake.router.route.bind(fake.router);
    fake.router.route = async (...args) => {
      await sleep(300); // a slow answer, as from an overloaded variant
      return route(...args);
    };
    const app = serve(fake);
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.address() as AddressInfo;
      const client = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' } });
      client.on('error', () => undefined);
      client.end(JSON.stringify({ features: [[0.1, 0.2]] }));
      await sleep(100);
      client.destroy(); // the client times out
      await sleep(500); // routing finishes and the router tries to answer a closed socket
      const text = await fake.metrics.registry.metrics();
      assert.equal(metricValue(text, 'inference_cascade_router_requests_total', { code: '499' }), 1);
      const total = text.split('\n').filter((line) => line.startsWith('inference_cascade_router_requests_total{'))
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
      assert.equal(total, 1, 'counted once');
      assert.equal(metricValue(text, 'inference_cascade_router_request_duration_seconds_count') || 0, 0, 'not an answered request');
    } finally {
      await app.close();
    }
  });
});

describe('router admin endpoints', () => {
  const TOKEN = 'a-long-enough-admin-token';
  const adminOf = ({ router }: FakeRouter, adminToken?: string) =>
    createAdminServer({ router, logger: quiet, reload: async () => ({ generation: 2 }), ...(adminToken ? { adminToken } : {}) });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('are not served on the inference port, even with the token', async () => {
    const app = serve(fakeRouter(new StaticPolicy('distilled', PROFILES), {}));
    try {
      for (const url of ['/admin/cache', '/admin/cache/clear', '/admin/reload']) {
        const response = await app.inject({ method: 'POST', url, headers: bearer(TOKEN), payload: { enabled: false } });
        assert.equal(response.statusCode, 404, url);
        assert.match(response.json<{ error: string }>().error, /no route for POST \/admin/);
      }
    } finally {
      await app.close();
    }
  });

  it('answer 401 without the right token, 403 when no token is configured, and act with it', async () => {
    const fake = fakeRouter(new StaticPolicy('distilled', PROFILES), {}, { cacheEnabled: true });
    const admin = adminOf(fake, TOKEN);
    const disabled = adminOf(fake);
    try {
      for (const url of ['/admin/cache', '/admin/cache/clear', '/admin/reload', '/admin/unknown']) {
        for (const headers of [{}, bearer('wrong'), bearer(`${TOKEN}x`), { authorization: TOKEN }]) {
          const response = await admin.inject({ method: 'POST', url, headers, payload: { enabled: false } });
          assert.equal(response.statusCode, 401, `${url} ${JSON.stringify(headers)}`);
          assert.match(response.json<{ error: string }>().error, /admin endpoints need "Authorization: Bearer <ADMIN_TOKEN>"/);
        }
        const off = await disabled.inject({ method: 'POST', url, headers: bearer(TOKEN), payload: {} });
        assert.equal(off.statusCode, 403);
        assert.match(off.json<{ error: string }>().error, /start the router with ADMIN_TOKEN set/);
      }
      assert.equal(fake.router.cache.reuseEnabled, true, 'refused requests changed nothing');
      const switched = await admin.inject({ method: 'POST', url: '/admin/cache', headers: bearer(TOKEN), payload: { enabled: false } });
      assert.deepEqual(switched.json(), { reuse_enabled: false });
      assert.equal(fake.router.cache.reuseEnabled, false);
      const bad = await admin.inject({ method: 'POST', url: '/admin/cache', headers: bearer(TOKEN), payload: { enabled: 'no' } });
      assert.equal(bad.statusCode, 400);
      assert.deepEqual((await admin.inject({ method: 'POST', url: '/admin/reload', headers: bearer(TOKEN), payload: {} })).json(), { generation: 2 });
    } finally {
      await admin.close();
      await disabled.close();
    }
  });
});

describe('cache keys follow the model', () => {
  it('a new model URI (same version) or a new version never reads the old model\'s embeddings', async () => {
    const { router, cascade } = fakeRouter(new StaticPolicy('distilled', PROFILES), {}, { cacheEnabled: true });
    const features = Float32Array.from([0.1, 0.2]);
    const withDistilled = (change: { modelUri?: string; modelVersion?: string }) => ({
      ...cascade, config: { ...cascade.config, variants: cascade.config.variants.map((v) => (v.role === 'distilled' ? { ...v, ...change } : v)) },
    });
    const hit = async () => (await router.route(features, 1, undefined)).cacheHit;
    router.swap(withDistilled({ modelUri: 'file:///models/a' }));
    assert.equal(await hit(), false);
    assert.equal(await hit(), true, 'same model: reused');
    router.swap(withDistilled({ modelUri: 'file:///models/b' }));
    assert.equal(await hit(), false, 'new URI, same version: computed fresh');
    assert.equal(await hit(), true);
    router.swap(withDistilled({ modelUri: 'file:///models/b', modelVersion: '2' }));
    assert.equal(await hit(), false, 'new version: computed fresh');
    assert.equal(modelIdentity({ modelVersion: '3' }), '3');
    assert.equal(modelIdentity({ modelVersion: '3', modelUri: 'file:///models/x' }), '3@file:///models/x');
  });
});

describe('expired cache entries', () => {
  it('are dropped by purgeExpired, so memory follows the TTL rather than maxEntries', async () => {
    let now = 0;
    const { router } = fakeRouter(new StaticPolicy('distilled', PROFILES), {}, { cacheEnabled: true, clock: () => now });
    for (let i = 0; i < 10; i++) await router.route(Float32Array.from([i, i + 0.5]), 1, undefined);
    assert.equal(router.cache.stats().size, 10);
    now += 30_000;
    assert.equal(router.purgeExpired(), 0, 'nothing has expired within the 60 s TTL');
    await router.route(Float32Array.from([100, 100.5]), 1, undefined);
    now += 31_000;
    assert.equal(router.purgeExpired(), 10);
    assert.equal(router.cache.stats().size, 1, 'the entry stored 31 s ago stays');
  });
});
