// The router against real variant servers: every process is the real CLI, started the way
// `npm run demo` starts them (scripts/standalone/local-cascade.ts), no mocks.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { request } from 'undici';
import { ROLES } from '../../crds/types.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade, type LocalCascade } from '../../scripts/standalone/local-cascade.js';
import { drive } from '../../scripts/standalone/traffic.js';
import { sessionStream, type SessionRequest } from '../../training/data/sessions32.js';
import { eventually } from '../support/eventually.js';
import { metricValue } from '../support/operator.js';

const CASCADE_FILE = path.join(ROOT, 'manifests', 'samples', 'cascade.yaml');

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.body.text();
  return { status: response.statusCode, body: JSON.parse(text) as Record<string, unknown> };
}

async function getJson(url: string): Promise<Record<string, any>> {
  const response = await request(url);
  return (await response.body.json()) as Record<string, any>;
}

function features(count: number, seed = 7): number[][] {
  const stream = sessionStream({ streamSeed: seed, activeSessions: 16, requestsPerSession: 20 });
  return Array.from({ length: count }, () => Array.from((stream.next().value as SessionRequest).features));
}

/** Attempts the router made on the network to `role` (everything but "breaker-open", which never leaves the router). */
async function networkAttempts(cascade: LocalCascade, role: string): Promise<number> {
  const text = await (await request(`${cascade.router.url}/metrics`)).body.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('inference_cascade_router_upstream_attempts_total{')) continue;
    if (!line.includes(`variant="${role}"`) || line.includes('result="breaker-open"')) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

const predict = (cascade: LocalCascade, row: number[], headers: Record<string, string> = {}) =>
  post(`${cascade.router.url}/predict`, JSON.stringify({ features: [row] }), headers);

describe('router (variant servers and router as real processes)', function () {
  this.timeout(120_000);
  let cascade: LocalCascade;
  const rows = features(400);

  before(async () => {
    cascade = await startLocalCascade({ cascadeFile: CASCADE_FILE, routerFlags: ['--body-limit-bytes', '65536'] });
  });
  after(async () => {
    await cascade?.stop();
  });

  it('answers /predict and OIP v2 infer with the serving variant and cache use', async () => {
    const first = await predict(cascade, rows[0]!);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.ok([0, 1].includes(first.body.prediction as number));
    assert.ok(['quantized', 'pruned', 'distilled', 'full'].includes(first.body.variant as string));
    assert.equal(first.body.cache_hit, false);
    // A sampled hit (drift.sampleRate) is answered fresh, so ask a few times: all five sampled at 0.1 is 1e-5.
    const again: Reply[] = [];
    for (let i = 0; i < 5; i++) again.push(await predict(cascade, rows[0]!));
    assert.ok(again.some((reply) => reply.body.cache_hit === true), 'the same prefix again is served from the cache');
    const oip = await post(
      `${cascade.router.url}/v2/models/fraud-scorer/infer`,
      JSON.stringify({ id: 'r1', inputs: [{ name: 'features', shape: [1, 32], datatype: 'FP32', data: rows[1] }] }),
    );
    assert.equal(oip.status, 200, JSON.stringify(oip.body));
    assert.equal(oip.body.id, 'r1');
    const outputs = oip.body.outputs as { name: string; data: number[] }[];
    assert.deepEqual(outputs.map((o) => o.name), ['probabilities', 'prediction']);
    assert.ok(Math.abs(outputs[0]!.data[0]! + outputs[0]!.data[1]! - 1) < 1e-5);
  });

  it('rejects bad input with a 4xx naming the problem and keeps serving', async () => {
    const url = `${cascade.router.url}/predict`;
    const nan = JSON.stringify({ features: [rows[0]] }).replace(/^(\{"features":\[\[)[^,]+/, '$1"NaN"');
    const cases: [string, () => Promise<Reply>, number, RegExp][] = [
      ['malformed JSON', () => post(url, '{"features": [[1, 2'), 400, /malformed JSON body/],
      ['NaN', () => post(url, nan), 400, /features\[0\]\[0\] must be a number/],
      ['Infinity', () => post(url, JSON.stringify({ features: [rows[0]] }).replace(/^(\{"features":\[\[)[^,]+/, '$11e400')), 400, /features\[0\]\[0\] must be a finite number/],
      ['wrong width', () => post(url, JSON.stringify({ features: [[1, 2, 3]] })), 400, /features\[0\] has 3 values but the model takes 32/],
      ['empty batch', () => post(url, JSON.stringify({ features: [] })), 400, /empty batch/],
      ['oversized body', () => post(url, JSON.stringify({ features: [rows[0]], pad: 'x'.repeat(100_000) })), 413, /request body is larger than the limit of 65536 bytes/],
      ['bad latency hint', () => predict(cascade, rows[0]!, { 'x-latency-budget-ms': '-3' }), 400, /x-latency-budget-ms must be a positive number/],
      ['bad accuracy hint', () => predict(cascade, rows[0]!, { 'x-min-accuracy': '1.5' }), 400, /x-min-accuracy must be a fraction/],
      ['bad variant hint', () => predict(cascade, rows[0]!, { 'x-cascade-variant': 'tiny' }), 400, /x-cascade-variant must be one of quantized, pruned, distilled, full, got "tiny"/],
      ['unknown model', () => post(`${cascade.router.url}/v2/models/nope/infer`, '{}'), 404, /unknown model "nope"/],
      ['wrong datatype', () => post(`${cascade.router.url}/v2/models/fraud-scorer/infer`, JSON.stringify({ inputs: [{ name: 'features', shape: [1, 32], datatype: 'INT32', data: rows[0] }] })), 400, /datatype/],
    ];
    for (const [what, send, status, message] of cases) {
      const reply = await send();
      assert.equal(reply.status, status, `${what}: ${JSON.stringify(reply.body)}`);
      assert.match(String(reply.body.error), message, what);
    }
    const ok = await predict(cascade, rows[2]!);
    assert.equal(ok.status, 200);
  });

  it('a killed variant costs no request while another can serve; its breaker opens, then closes after it returns', async () => {
    const admin = { authorization: `Bearer ${cascade.adminToken}` };
    assert.equal((await post(`${cascade.adminUrl}/admin/cache`, JSON.stringify({ enabled: false }), admin)).status, 200);
    const before: Reply[] = [];
    for (const row of rows.slice(0, 40)) before.push(await predict(cascade, row));
    assert.deepEqual(before.filter((r) => r.status !== 200).map((r) => r.body), []);
    const busiest = mostCommon(before.map((r) => r.body.variant as string));
    await cascade.kill(busiest as 'distilled');
    const during: Reply[] = [];
    let next = 40;
    await eventually(async () => {
      for (let k = 0; k < 20; k++) during.push(await predict(cascade, rows[next++ % rows.length]!));
      assert.equal((await getJson(`${cascade.router.url}/status`)).breakers[busiest], 'open');
    }, { timeoutMs: 30_000, intervalMs: 10 });
    assert.deepEqual(during.filter((r) => r.status !== 200).map((r) => r.body), [], 'every request still answered');
    // With its breaker open, requests no longer try the dead variant at all (no connection attempts, no timeouts).
    const triedBefore = await networkAttempts(cascade, busiest);
    for (let k = 0; k < 20; k++) assert.equal((await predict(cascade, rows[next++ % rows.length]!)).status, 200);
    assert.equal(await networkAttempts(cascade, busiest), triedBefore, `requests still tried ${busiest} while its breaker was open`);
    await cascade.restart(busiest as 'distilled');
    let i = 200;
    await eventually(async () => {
      const reply = await predict(cascade, rows[i++ % rows.length]!);
      assert.equal(reply.status, 200);
      const now = await getJson(`${cascade.router.url}/status`);
      assert.equal(now.breakers[busiest], 'closed', `${JSON.stringify(now.breakers)} last answer from ${String(reply.body.variant)}`);
    }, { timeoutMs: 20_000, intervalMs: 100 });
    assert.equal((await post(`${cascade.adminUrl}/admin/cache`, JSON.stringify({ enabled: true }), admin)).status, 200);
  });

  it("reads every variant's queue depth from its /metrics", async () => {
    await eventually(async () => {
      const load = (await getJson(`${cascade.router.url}/status`)).load as Record<string, { queueDepth?: number }>;
      for (const role of ['quantized', 'pruned', 'distilled', 'full']) assert.equal(typeof load[role]?.queueDepth, 'number', `${role}: ${JSON.stringify(load[role])}`);
    }, { timeoutMs: 10_000, intervalMs: 250 });
  });

  it('admin endpoints need the token and are served only on the admin port', async () => {
    const none = await post(`${cascade.adminUrl}/admin/cache`, JSON.stringify({ enabled: false }));
    assert.equal(none.status, 401);
    const wrong = await post(`${cascade.adminUrl}/admin/reload`, '{}', { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    const clear = await post(`${cascade.adminUrl}/admin/cache/clear`, '{}');
    assert.equal(clear.status, 401);
    const token = { authorization: `Bearer ${cascade.adminToken}` };
    for (const url of ['/admin/cache', '/admin/cache/clear', '/admin/reload']) {
      assert.equal((await post(`${cascade.router.url}${url}`, JSON.stringify({ enabled: true }), token)).status, 404, `${url} on the inference port`);
    }
    assert.equal((await post(`${cascade.adminUrl}/admin/cache`, JSON.stringify({ enabled: true }), token)).status, 200);
  });

  it('an administrator can drop every cached embedding; the next identical request is computed fresh', async () => {
    const features = JSON.stringify({ features: [Array.from({ length: 32 }, (_, i) => Math.sin(i + 0.5))] });
    // Pinned, so every request reads and fills the same key whatever the policy would pick under load.
    const predict = async () => (await post(`${cascade.router.url}/predict`, features, { 'x-cascade-variant': 'distilled' })).body as { cache_hit: boolean };
    await predict();
    let hit = false;
    for (let i = 0; i < 20 && !hit; i++) hit = (await predict()).cache_hit;
    assert.ok(hit, 'a repeated request is answered from the cache');
    const cleared = await post(`${cascade.adminUrl}/admin/cache/clear`, '{}', { authorization: `Bearer ${cascade.adminToken}` });
    assert.equal(cleared.status, 200);
    assert.ok((cleared.body as { dropped: number }).dropped >= 1);
    assert.equal((await predict()).cache_hit, false);
  });

  it('hot reload under load loses no request', async () => {
    const stream = sessionStream({ streamSeed: 11, activeSessions: 32, requestsPerSession: 30 });
    const traffic = drive(cascade.router.url, stream, 3000, 4);
    const policies = [{ type: 'static' as const, staticRole: 'pruned' as const }, { type: 'heuristic' as const }];
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      cascade.writeConfig((config) => {
        config.policy = policies[i % 2]!;
        config.sla = { ...config.sla, p99LatencyMs: 40 + i };
      });
    }
    const records = await traffic;
    assert.deepEqual(records.filter((r) => r.status !== 200).map((r) => `${r.index}: ${r.error}`), []);
    const metrics = await (await request(`${cascade.router.url}/metrics`)).body.text();
    const reloads = Number(/inference_cascade_router_config_reloads_total\{result="ok"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(reloads >= 3, `only ${reloads} reloads happened during the traffic`);
    cascade.writeConfig((config) => {
      config.policy = { type: 'static', staticRole: 'pruned' };
    });
    await eventually(async () => assert.equal((await getJson(`${cascade.router.url}/status`)).policy, 'static'), { timeoutMs: 10_000, intervalMs: 100 });
    const reply = await predict(cascade, rows[7]!);
    assert.equal(reply.body.variant, 'pruned', 'the reloaded static policy routes');
    cascade.writeConfig((config) => {
      config.policy = { type: 'heuristic' };
    });
    await eventually(async () => assert.equal((await getJson(`${cascade.router.url}/status`)).policy, 'heuristic'), { timeoutMs: 10_000, intervalMs: 100 });
  });
});

describe('router drift agent (scripted drift through the real router)', function () {
  this.timeout(120_000);
  let cascade: LocalCascade;
  after(async () => {
    await cascade?.stop();
  });

  it('disables reuse within 200 requests of drift onset and re-enables it after recovery', async () => {
    // One variant for every request, so the drift shows in that variant's cached embeddings
    // rather than in a change of route.
    cascade = await startLocalCascade({
      cascadeFile: CASCADE_FILE,
      adjust: (config) => {
        config.policy = { type: 'static', staticRole: 'distilled' };
      },
    });
    const onset = 1500;
    const stream = sessionStream({
      streamSeed: 99,
      activeSessions: 32,
      requestsPerSession: 60,
      withinSessionSpread: 0.1,
      drift: { onset, rampRequests: 50, magnitude: 4 },
    });
    const records = await drive(cascade.router.url, stream, 2600, 2);
    assert.equal(records.filter((r) => r.status !== 200).length, 0);
    const status = await getJson(`${cascade.router.url}/status`);
    const actions = status.agent.actions as { request: number; action: string }[];
    assert.ok(!actions.some((a) => a.action === 'disable' && a.request < onset), `false alarm before onset: ${JSON.stringify(actions)}`);
    const disable = actions.find((a) => a.action === 'disable');
    assert.ok(disable, `reuse never disabled: ${JSON.stringify(status.agent)}`);
    assert.ok(disable.request - onset <= 200, `disabled ${disable.request - onset} requests after onset`);
    const enable = actions.find((a) => a.action === 'enable' && a.request > disable.request);
    assert.ok(enable, 'reuse never came back once the cache held post-drift embeddings');
    assert.equal(status.cache.reuseEnabled, true);
  });
});

describe('router policy fallback', function () {
  this.timeout(60_000);
  let cascade: LocalCascade;
  after(async () => {
    await cascade?.stop();
  });

  it('a corrupt policy file falls back to the heuristic with a metric, never a crash', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'policy-')), 'policy.onnx');
    writeFileSync(file, randomBytes(4096));
    cascade = await startLocalCascade({
      cascadeFile: CASCADE_FILE,
      adjust: (config) => {
        config.policy = { type: 'learned', model: { uri: pathToFileURL(file).href } };
      },
    });
    const reply = await predict(cascade, features(1)[0]!);
    assert.equal(reply.status, 200);
    assert.equal((await getJson(`${cascade.router.url}/status`)).policy, 'heuristic');
    const metrics = await (await request(`${cascade.router.url}/metrics`)).body.text();
    assert.match(metrics, /inference_cascade_router_policy_fallback_total\{reason="unreadable-model"\} 1/);
  });
});

describe('router with the shipped learned policy', function () {
  this.timeout(60_000);
  let cascade: LocalCascade;
  after(async () => {
    await cascade?.stop();
  });

  it('loads policy.onnx with the estimator beside it and routes by its scores', async () => {
    const file = path.join(ROOT, 'models', 'sessions-32', 'policy', 'policy.onnx');
    cascade = await startLocalCascade({
      cascadeFile: CASCADE_FILE,
      adjust: (config) => {
        config.policy = { type: 'learned', model: { uri: pathToFileURL(file).href } };
        config.cache = { ...config.cache, enabled: false };
      },
    });
    const status = await getJson(`${cascade.router.url}/status`);
    assert.equal(status.policy, 'learned');
    assert.equal(status.difficulty, 'trained-estimator');
    const served = new Map<string, number>();
    for (const row of features(60)) {
      const reply = await predict(cascade, row);
      assert.equal(reply.status, 200);
      const variant = String(reply.body.variant);
      served.set(variant, (served.get(variant) ?? 0) + 1);
    }
    // Every request was decided by the learned model, and each was answered by the variant it
    // chose unless an attempt there failed and the router fell back.
    const metrics = await (await request(`${cascade.router.url}/metrics`)).body.text();
    const decisions = 'inference_cascade_router_policy_decisions_total';
    const attempts = 'inference_cascade_router_upstream_attempts_total';
    assert.equal(metricValue(metrics, decisions, { reason: 'learned' }), 60, 'decisions by the learned model');
    const decided = new Map(ROLES.map((role) => [role, metricValue(metrics, decisions, { variant: role, reason: 'learned' })]));
    const failedAttempts = metricValue(metrics, attempts) - metricValue(metrics, attempts, { result: 'ok' });
    const answeredElsewhere = ROLES.reduce((sum, role) => sum + Math.max(0, decided.get(role)! - (served.get(role) ?? 0)), 0);
    assert.ok(answeredElsewhere <= failedAttempts, `decided ${JSON.stringify([...decided])}, served ${JSON.stringify([...served])}, ${failedAttempts} failed attempts`);
    assert.doesNotMatch(metrics, /policy_fallback_total\{reason="[^"]+"\} [1-9]/);
  });
});

describe('router answering distilled itself (policy.distilledInRouter)', function () {
  this.timeout(60_000);
  let cascade: LocalCascade;
  after(async () => {
    await cascade?.stop();
  });

  it("answers the learned policy's distilled choices with the variant's own answer, without calling it", async () => {
    const file = path.join(ROOT, 'models', 'sessions-32', 'policy', 'policy.onnx');
    cascade = await startLocalCascade({
      cascadeFile: CASCADE_FILE,
      adjust: (config) => {
        config.policy = { type: 'learned', model: { uri: pathToFileURL(file).href }, distilledInRouter: true };
        config.cache = { ...config.cache, enabled: false };
      },
    });
    const rows = features(60, 21);
    const replies: Reply[] = [];
    for (const row of rows) replies.push(await predict(cascade, row));
    assert.deepEqual(replies.filter((r) => r.status !== 200).map((r) => r.body), []);
    const inRouter = replies.flatMap((r, i) => (r.body.in_router === true ? [i] : []));
    assert.ok(inRouter.length > 0, `no request answered in the router: ${replies.map((r) => r.body.variant).join(', ')}`);
    assert.ok(inRouter.every((i) => replies[i]!.body.variant === 'distilled'));
    assert.ok(replies.every((r) => r.body.in_router === (r.body.variant === 'distilled')), 'every distilled answer came from the router');
    assert.equal(await networkAttempts(cascade, 'distilled'), 0, 'the distilled server was never called');
    const metrics = await (await request(`${cascade.router.url}/metrics`)).body.text();
    assert.equal(metricValue(metrics, 'inference_cascade_router_in_router_answers_total', { variant: 'distilled' }), inRouter.length);
    // The same rows pinned to the distilled server (which always forwards) give the same answers.
    for (const i of inRouter.slice(0, 10)) {
      const served = await predict(cascade, rows[i]!, { 'x-cascade-variant': 'distilled' });
      assert.equal(served.body.in_router, false);
      const here = (replies[i]!.body.probabilities as number[][])[0]!;
      const there = (served.body.probabilities as number[][])[0]!;
      assert.ok(here.every((p, c) => Math.abs(p - there[c]!) < 1e-6), `row ${i}: router ${here.join(', ')} vs variant ${there.join(', ')}`);
    }
    // With the distilled server gone, the router still answers what it routes there.
    await cascade.kill('distilled');
    for (const i of inRouter.slice(0, 5)) {
      const reply = await predict(cascade, rows[i]!);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.deepEqual([reply.body.variant, reply.body.in_router], ['distilled', true]);
    }
  });
});

describe('router baselines (threshold-cascade escalation, pinned variants)', function () {
  this.timeout(60_000);
  let cascade: LocalCascade;
  const metricsText = async () => (await request(`${cascade.router.url}/metrics`)).body.text();
  const escalations = (text: string) =>
    [...text.matchAll(/inference_cascade_router_escalations_total\{from="(\w+)",to="(\w+)"\} (\d+)/g)].map(([, from, to, count]) => ({ from: from!, to: to!, count: Number(count) }));

  before(async () => {
    cascade = await startLocalCascade({
      cascadeFile: CASCADE_FILE,
      // Nearly every answer is below this, so requests escalate.
      adjust: (config) => {
        config.policy = { type: 'threshold-cascade', confidenceThreshold: 0.999999 };
      },
    });
  });
  after(async () => {
    await cascade?.stop();
  });

  it('escalates unsure answers to more costly variants and counts each escalation', async () => {
    const served: string[] = [];
    for (const row of features(30, 11)) {
      const reply = await predict(cascade, row);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      served.push(reply.body.variant as string);
    }
    const text = await metricsText();
    const counted = escalations(text);
    assert.ok(counted.length > 0, 'no escalation counted');
    assert.ok(counted.every((e) => e.from !== e.to && e.count > 0));
    const targets = new Set(counted.map((e) => e.to));
    assert.ok(served.some((variant) => targets.has(variant)), `served ${served.join(', ')}`);
    assert.match(text, /inference_cascade_router_policy_decisions_total\{variant="\w+",reason="threshold-cascade"\} 30/);
  });

  it('serves a pinned variant on /predict and OIP v2 infer without the policy or escalation', async () => {
    const before = escalations(await metricsText()).reduce((sum, e) => sum + e.count, 0);
    const row = features(1, 12)[0]!;
    const pinned = await predict(cascade, row, { 'x-cascade-variant': 'distilled' });
    assert.equal(pinned.status, 200, JSON.stringify(pinned.body));
    assert.equal(pinned.body.variant, 'distilled');
    const oip = await post(
      `${cascade.router.url}/v2/models/fraud-scorer/infer`,
      JSON.stringify({ inputs: [{ name: 'features', shape: [1, 32], datatype: 'FP32', data: row }] }),
      { 'x-cascade-variant': 'pruned' },
    );
    assert.equal(oip.status, 200, JSON.stringify(oip.body));
    assert.equal((oip.body.parameters as Record<string, unknown>).variant, 'pruned');
    const text = await metricsText();
    assert.match(text, /inference_cascade_router_policy_decisions_total\{variant="distilled",reason="pinned"\} 1/);
    assert.match(text, /inference_cascade_router_policy_decisions_total\{variant="pruned",reason="pinned"\} 1/);
    assert.equal(escalations(text).reduce((sum, e) => sum + e.count, 0), before, 'pinned requests do not escalate');
  });
});

function mostCommon(values: string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
}


describe('router without Kubernetes credentials', function () {
  this.timeout(60_000);
  let cascade: LocalCascade;
  after(async () => {
    await cascade?.stop();
  });

  it('still starts and routes when it cannot report to the cluster', async () => {
    cascade = await startLocalCascade({ cascadeFile: CASCADE_FILE, routerFlags: ['--kubeconfig', '/nonexistent/kubeconfig'] });
    const reply = await predict(cascade, features(1)[0]!);
    assert.equal(reply.status, 200);
    const status = await (await fetch(`${cascade.router.url}/status`)).json() as { pod_cpu_signal: string };
    assert.equal(status.pod_cpu_signal, 'error', 'the pod CPU signal says it failed instead of stopping the router');
  });
});
