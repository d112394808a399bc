// Saturation over HTTP: when every variant sheds load the client gets 429 with Retry-After, so it
// backs off instead of retrying at once.
import { strict as assert } from 'node:assert';
import { createRouterServer } from '../../router-sidecar/server.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { UpstreamError } from '../../router-sidecar/upstream.js';
import { modelIdentity } from '../../router-sidecar/cache/prefix-key.js';
import { fakeRouter, PROFILES, quiet } from '../support/fake-router.js';

type FakeRouter = ReturnType<typeof fakeRouter>;
const serve = ({ router, metrics }: FakeRouter) =>
  createRouterServer({ router, metrics, logger: quiet, bodyLimitBytes: 1024 * 1024, reload: async () => ({ generation: 0 }), ready: () => true, load: () => ({}) });

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
