// Faulty variants in front of the real router and real variant servers.
// Failing: a variant that fails every inference request (while its health check still says
// ready): retries stay within max(20% of requests in flight, 3); after 5 consecutive failures it is
// ejected and traffic moves; once it serves again, the breaker's probe (a real inference) readmits it.
// Hung: variant processes stopped with SIGSTOP (they accept connections and never answer): per-try
// timeouts move a request on to the next variant, and with every variant hung the client gets 504
// by its deadline.
import { strict as assert } from 'node:assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Agent, request } from 'undici';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade, type LocalCascade } from '../../scripts/standalone/local-cascade.js';
import { sessionStream, type SessionRequest } from '../../training/data/sessions32.js';
import { eventually } from '../support/eventually.js';

const CLIENTS = 4;

/** Answers 500 to every inference until `heal()`, then passes requests on to `upstream`. */
async function startFailingVariant(upstream: () => string) {
  let healed = false;
  let inferences = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const isInference = req.method === 'POST';
      if (isInference) inferences += 1;
      if (!healed && isInference) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'injected failure' }));
        return;
      }
      if (!healed) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ready":true}');
        return;
      }
      request(`${upstream()}${req.url}`, { method: req.method as 'GET' | 'POST', headers: { 'content-type': 'application/json' }, ...(isInference ? { body: Buffer.concat(chunks) } : {}) }).then(
        async (response) => res.writeHead(response.statusCode, { 'content-type': 'application/json' }).end(Buffer.from(await response.body.arrayBuffer())),
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    inferences: () => inferences,
    heal: () => {
      healed = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('a variant failing every request', function () {
  this.timeout(120_000);
  let cascade: LocalCascade | undefined;
  let failing: Awaited<ReturnType<typeof startFailingVariant>> | undefined;
  after(async () => {
    await cascade?.stop();
    await failing?.close();
  });

  it('costs retries within max(20% of requests in flight, 3), is ejected after 5 failures, and returns after probing', async () => {
    failing = await startFailingVariant(() => cascade!.variants.distilled.url);
    const failingUrl = failing.url;
    cascade = await startLocalCascade({
      cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
      adjust: (config) => {
        config.cache = { ...config.cache, enabled: false };
        for (const variant of config.variants) if (variant.role === 'distilled') variant.endpoint = failingUrl;
      },
    });
    const stream = sessionStream({ streamSeed: 3, activeSessions: 16, requestsPerSession: 40 });
    const dispatcher = new Agent({ connections: CLIENTS });
    // Every request asks for distilled first; the router falls back in the heuristic's order.
    const send = async () => {
      const response = await request(`${cascade!.router.url}/predict`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', 'x-cascade-variant': 'distilled' },
        body: JSON.stringify({ features: [Array.from((stream.next().value as SessionRequest).features)] }),
      });
      const body = (await response.body.json()) as { variant?: string; error?: string };
      return { status: response.statusCode, variant: body.variant, error: body.error };
    };
    const burst = async (total: number) => {
      const replies: Awaited<ReturnType<typeof send>>[] = [];
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (replies.length < total) replies.push(await send());
      }));
      return replies;
    };
    const status = async () => (await (await request(`${cascade!.router.url}/status`)).body.json()) as {
      breakers: Record<string, string>;
      retry_budget: { peakActiveRetries: number; retries: number; refused: number };
    };

    const during = await burst(400);
    const refused = during.filter((r) => r.status !== 200);
    for (const reply of refused) assert.match(reply.error ?? '', /retry budget is spent/, JSON.stringify(reply));
    assert.ok(refused.length <= 5, `${refused.length} requests were refused for the retry budget; at most the ejection's 5 failures may be`);
    assert.ok(during.filter((r) => r.status === 200).every((r) => r.variant !== 'distilled'), 'no answer came from the failing variant');
    const budget = (await status()).retry_budget;
    assert.ok(budget.peakActiveRetries <= Math.max(Math.floor(0.2 * CLIENTS), 3), `peak retries in flight ${budget.peakActiveRetries}`);
    assert.ok(budget.retries >= 3 && budget.retries + budget.refused >= 5, `every failure asked for a retry: ${JSON.stringify(budget)}`);
    assert.equal(budget.refused, refused.length, 'each refused retry is a 503 to its client');
    assert.equal((await status()).breakers.distilled === 'closed', false, 'the failing variant is ejected');
    // Ejected after 5 consecutive failures: 5 requests (plus what was already in flight) and one probe per 2 s cool-down.
    const seconds = during.length; // an upper bound on the run's length in seconds at > 1 request/s
    assert.ok(failing.inferences() <= 5 + CLIENTS - 1 + Math.ceil(seconds / 2), `the failing variant saw ${failing.inferences()} inferences`);
    const afterEjection = await burst(200);
    assert.deepEqual(afterEjection.filter((r) => r.status !== 200), [], 'once ejected, traffic moves without errors');

    failing.heal();
    await eventually(async () => {
      const reply = await send();
      assert.equal(reply.status, 200);
      assert.equal(reply.variant, 'distilled', `still answered by ${reply.variant}; breakers ${JSON.stringify((await status()).breakers)}`);
    }, { timeoutMs: 15_000, intervalMs: 200 });
    assert.equal((await status()).breakers.distilled, 'closed');
    await dispatcher.close();
  });
});

describe('hung variants (SIGSTOP)', function () {
  this.timeout(120_000);
  let cascade: LocalCascade | undefined;
  after(async () => {
    for (const variant of Object.values(cascade?.variants ?? {})) variant.child.kill('SIGCONT');
    await cascade?.stop();
  });

  it('per-try timeouts move requests past a hung variant, and with all hung the client gets 504 within its budget', async () => {
    cascade = await startLocalCascade({
      cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
      adjust: (config) => {
        config.cache = { ...config.cache, enabled: false };
      },
    });
    const local = cascade;
    const stream = sessionStream({ streamSeed: 4, activeSessions: 16, requestsPerSession: 40 });
    const timed = async (headers: Record<string, string>) => {
      const started = performance.now();
      const response = await request(`${local.router.url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ features: [Array.from((stream.next().value as SessionRequest).features)] }),
      });
      const body = (await response.body.json()) as { variant?: string; error?: string };
      return { status: response.statusCode, variant: body.variant, error: body.error, ms: performance.now() - started };
    };
    const hardTimeoutMs = Math.max(1000, 4 * local.config.sla.p99LatencyMs);
    for (let i = 0; i < 20; i++) assert.equal((await timed({ 'x-cascade-variant': 'distilled' })).variant, 'distilled');

    local.variants.distilled.child.kill('SIGSTOP');
    const pastHung = [];
    for (let i = 0; i < 20; i++) pastHung.push(await timed({ 'x-cascade-variant': 'distilled' }));
    assert.deepEqual(pastHung.filter((r) => r.status !== 200), []);
    assert.ok(pastHung.every((r) => r.variant !== 'distilled'));
    const slowest = Math.max(...pastHung.map((r) => r.ms));
    assert.ok(slowest < hardTimeoutMs / 2, `a request past the hung variant took ${slowest.toFixed(0)} ms: the per-try timeout did not cut the first attempt`);

    for (const variant of Object.values(local.variants)) variant.child.kill('SIGSTOP');
    const budgetMs = 250;
    const withBudget = await timed({ 'x-latency-budget-ms': String(budgetMs) });
    assert.equal(withBudget.status, 504, JSON.stringify(withBudget));
    assert.match(withBudget.error ?? '', /no variant could answer/);
    assert.ok(withBudget.ms >= budgetMs * 0.9 && withBudget.ms < budgetMs + 250, `504 after ${withBudget.ms.toFixed(0)} ms for a ${budgetMs} ms budget`);
    const withoutBudget = await timed({});
    assert.equal(withoutBudget.status, 504);
    assert.ok(withoutBudget.ms >= hardTimeoutMs * 0.9 && withoutBudget.ms < hardTimeoutMs + 400, `504 after ${withoutBudget.ms.toFixed(0)} ms; the router's request timeout is ${hardTimeoutMs} ms`);

    for (const variant of Object.values(local.variants)) variant.child.kill('SIGCONT');
    await eventually(async () => assert.equal((await timed({})).status, 200), { timeoutMs: 10_000, intervalMs: 100 });
  });
});
