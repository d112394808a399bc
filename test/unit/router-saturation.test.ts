// Saturation over HTTP: when every variant sheds load the client gets 429 with Retry-After, so it
// backs off instead of retrying at once.
import { strict as assert } from 'node:assert';
import { createRouterServer } from '../../router-sidecar/server.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { UpstreamError } from '../../router-sidecar/upstream.js';
import { fakeRouter, PROFILES, quiet } from '../support/fake-router.js';

describe('router saturation over HTTP', () => {
  it('answers 429 with Retry-After and the reason when every variant sheds load', async () => {
    const shed = new UpstreamError('status', 'variant answered 429: busy', 429);
    const { router, metrics } = fakeRouter(new StaticPolicy('distilled', PROFILES), { quantized: shed, pruned: shed, distilled: shed, full: shed });
    const app = createRouterServer({ router, metrics, logger: quiet, bodyLimitBytes: 1024 * 1024, reload: async () => ({ generation: 0 }), ready: () => true, load: () => ({}) });
    try {
      const response = await app.inject({ method: 'POST', url: '/predict', payload: { features: [[0.1, 0.2]] } });
      assert.equal(response.statusCode, 429);
      assert.equal(response.headers['retry-after'], '1');
      assert.match(response.json<{ error: string }>().error, /every variant is saturated; retry later/);
      const ok = fakeRouter(new StaticPolicy('distilled', PROFILES), {});
      const healthy = createRouterServer({ router: ok.router, metrics: ok.metrics, logger: quiet, bodyLimitBytes: 1024 * 1024, reload: async () => ({ generation: 0 }), ready: () => true, load: () => ({}) });
      const served = await healthy.inject({ method: 'POST', url: '/predict', payload: { features: [[0.1, 0.2]] } });
      assert.equal(served.statusCode, 200);
      assert.equal(served.headers['retry-after'], undefined);
      await healthy.close();
    } finally {
      await app.close();
    }
  });
});
