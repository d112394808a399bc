// The CLI as a child process: SIGTERM drains in-flight requests before exiting 0; bad flags exit 2.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { metricValue } from '../support/operator.js';
import { startSlowRequest } from '../support/slow-request.js';
import {
  inferBody,
  referenceRows,
  request,
  runCli,
  spawnVariantServer,
  TEST_INPUT_DIM,
  TEST_MODEL_DIR,
  TEST_MODEL_NAME,
  type InferBody,
} from '../support/variant-server.js';

describe('variant server process', () => {
  it('drains on SIGTERM: in-flight requests finish with 200, new ones get 503, exit code 0', async () => {
    const server = await spawnVariantServer(['--model', TEST_MODEL_DIR, '--port', '0', '--host', '127.0.0.1', '--batching']);
    const { data } = referenceRows();
    const url = `${server.url}/v2/models/${TEST_MODEL_NAME}/infer`;
    const slow = Array.from({ length: 4 }, (_, i) =>
      startSlowRequest<InferBody>(
        url,
        JSON.stringify(inferBody('features', 2, data.subarray(i * 2 * TEST_INPUT_DIM, (i + 1) * 2 * TEST_INPUT_DIM), { id: `slow-${i}` })),
      ),
    );
    for (let attempt = 0; ; attempt++) {
      const metrics = (await request(`${server.url}/metrics`)).body.text as string;
      if (metricValue(metrics, 'inference_cascade_variant_requests_in_flight') === 4) break;
      assert.ok(attempt < 100, 'the server never saw the 4 requests in flight');
      await sleep(20);
    }

    server.child.kill('SIGTERM');
    for (let attempt = 0; !server.logs.some((l) => l.message === 'draining'); attempt++) {
      assert.ok(attempt < 100, 'no "draining" log line');
      await sleep(20);
    }
    const ready = await request(`${server.url}/v2/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.ready, false);
    const rejected = await request(url, { body: inferBody('features', 1, data.subarray(0, TEST_INPUT_DIM)) });
    assert.equal(rejected.status, 503);
    assert.match(rejected.body.error as string, /shutting down/);

    const responses = await Promise.all(slow.map((s) => s.finish()));
    responses.forEach((res, i) => {
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.id, `slow-${i}`);
      assert.equal(res.body.outputs.find((o) => o.name === 'prediction')?.data.length, 2);
    });
    assert.equal(await server.exited, 0);
    const messages = server.logs.map((l) => l.message);
    assert.ok(messages.indexOf('draining') < messages.indexOf('variant server stopped'));
    assert.equal(server.logs.find((l) => l.message === 'draining')?.inFlight, 4);
    const started = server.logs.find((l) => l.message === 'variant server started')!;
    assert.equal(started.model, TEST_MODEL_NAME);
    assert.deepEqual(started.executionProviders, ['cpu']);
    assert.equal(typeof started.port, 'number');
  });

  it('exits 2 with a message naming the bad flag, environment variable or model path', async () => {
    // Every other bad value takes the same path; test/unit/variant-server-config.test.ts covers them.
    const [badFlag, badEnv, missingModel] = await Promise.all([
      runCli(['--model', TEST_MODEL_DIR, '--port', 'eighty']),
      runCli(['--model', TEST_MODEL_DIR], { BATCHING: 'sometimes' }),
      runCli(['--model', '/nonexistent/model', '--port', '0']),
    ]);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--port must be an integer from 0 to 65535; got "eighty"/);
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /BATCHING must be true or false; got "sometimes"/);
    assert.equal(missingModel.code, 2);
    assert.match(missingModel.stderr, /--model \(or MODEL_URI\) "\/nonexistent\/model": model file .*encoder\.onnx does not exist/);
  });
});
