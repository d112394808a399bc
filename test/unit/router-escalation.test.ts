// The Router's escalation loop (threshold-cascade) and pinned requests (x-cascade-variant), against
// fake variant clients behind the real forwarder, breakers, prefix cache and metrics.
import { strict as assert } from 'node:assert';
import type { Role } from '../../crds/types.js';
import type { RouterMetrics } from '../../router-sidecar/metrics.js';
import type { Policy, RequestHints } from '../../router-sidecar/policy/policy.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { ThresholdCascadePolicy } from '../../router-sidecar/policy/threshold-cascade.js';
import { topProbability } from '../../router-sidecar/router.js';
import { UpstreamError } from '../../router-sidecar/upstream.js';
import { fakeRouter, PROFILES, type Behaviour } from '../support/fake-router.js';

const setup = (policy: Policy, behaviour: Behaviour, cacheEnabled = false) => fakeRouter(policy, behaviour, { cacheEnabled });

async function escalations(metrics: RouterMetrics): Promise<string[]> {
  return (await metrics.escalations.get()).values.map((v) => `${v.labels.from}->${v.labels.to} ${v.value}`).sort();
}

async function decisions(metrics: RouterMetrics): Promise<string[]> {
  return (await metrics.policyDecisions.get()).values.map((v) => `${v.labels.variant} ${v.labels.reason} ${v.value}`).sort();
}

const one = Float32Array.from([0.1, 0.2]);
const sure = [0.97, 0.03];
const unsure = [0.6, 0.4];
const refused = () => new UpstreamError('connect', 'connect ECONNREFUSED');

describe('topProbability', () => {
  it('is the top-class probability of the least confident row', () => {
    assert.equal(topProbability(Float32Array.from([0.25, 0.75]), 1), 0.75);
    assert.equal(topProbability(Float32Array.from([0.9, 0.1, 0.4, 0.6, 0.2, 0.8]), 3), Math.fround(0.6));
    assert.equal(topProbability(Float32Array.from([0.2, 0.3, 0.5]), 1), 0.5);
    assert.ok(Number.isNaN(topProbability(Float32Array.from([0.5, NaN]), 1)), 'a broken answer is never confident');
    assert.ok(Number.isNaN(topProbability(new Float32Array(0), 1)));
    assert.ok(Number.isNaN(topProbability(Float32Array.from([0.5, 0.5, 1]), 2)), 'rows must divide the answer');
  });
});

describe('Router escalation (threshold-cascade)', () => {
  const cases: [string, Behaviour, RequestHints | undefined, Role, number, string[], string[]][] = [
    ['a confident cheapest answer is final', { distilled: sure }, undefined, 'distilled', 0, ['distilled'], []],
    ['escalates while unsure and stops at the first confident answer',
      { distilled: unsure, pruned: [0.8, 0.2], quantized: sure }, undefined, 'quantized', 2,
      ['distilled', 'pruned', 'quantized'], ['distilled->pruned 1', 'pruned->quantized 1']],
    ['answers with full when every answer is unsure',
      { distilled: unsure, pruned: unsure, quantized: unsure, full: unsure }, undefined, 'full', 3,
      ['distilled', 'pruned', 'quantized', 'full'], ['distilled->pruned 1', 'pruned->quantized 1', 'quantized->full 1']],
    ['escalates past a failing role to the next one of the chain',
      { distilled: unsure, pruned: refused(), quantized: sure }, undefined, 'quantized', 1,
      ['distilled', 'pruned', 'quantized'], ['distilled->quantized 1']],
    ['keeps the last answer when every escalation fails',
      { distilled: unsure, pruned: refused(), quantized: refused(), full: refused() }, undefined, 'distilled', 0,
      ['distilled', 'pruned', 'quantized', 'full'], []],
    ['continues the chain after a role that answered as a fallback',
      { distilled: refused(), pruned: unsure, quantized: sure }, undefined, 'quantized', 1,
      ['distilled', 'pruned', 'quantized'], ['pruned->quantized 1']],
    ['does not escalate once the latency budget is spent',
      { distilled: unsure }, { latencyBudgetMs: 5 }, 'distilled', 0, ['distilled'], []],
    ['treats exactly the threshold as confident (in float32)', { distilled: [0.9, 0.1] }, undefined, 'distilled', 0, ['distilled'], []],
    ['escalates just below the threshold', { distilled: [0.89, 0.11] }, undefined, 'pruned', 1, ['distilled', 'pruned'], ['distilled->pruned 1']],
  ];
  for (const [what, behaviour, hints, role, count, called, counted] of cases) {
    it(what, async () => {
      const { router, metrics, calls } = setup(new ThresholdCascadePolicy(PROFILES, 0.9), behaviour);
      const result = await router.route(one, 1, hints);
      assert.equal(result.role, role);
      assert.equal(result.escalations, count);
      assert.deepEqual(calls.map((c) => c.role), called);
      assert.deepEqual(result.attempts.map((a) => a.role), called, 'every attempt, escalations included');
      assert.deepEqual(await escalations(metrics), counted);
      const expected = (behaviour[role] ?? [0.99, 0.01]) as number[];
      assert.deepEqual(Array.from(result.probabilities), Array.from(Float32Array.from(expected)), 'the last answer is the answer');
      assert.deepEqual(result.predictions, [expected[0]! >= expected[1]! ? 0 : 1]);
    });
  }

  it('judges a batch by its least confident row', async () => {
    const { router, calls } = setup(new ThresholdCascadePolicy(PROFILES, 0.9), {
      distilled: [0.99, 0.01, 0.6, 0.4], pruned: [0.95, 0.05, 0.08, 0.92],
    });
    const result = await router.route(Float32Array.from([1, 2, 3, 4]), 2, undefined);
    assert.equal(result.role, 'pruned');
    assert.equal(result.escalations, 1);
    assert.deepEqual(result.predictions, [0, 1]);
    assert.deepEqual(calls.map((c) => c.role), ['distilled', 'pruned']);
  });

  it('never reads or fills the cache on escalated calls', async () => {
    const { router, calls } = setup(new ThresholdCascadePolicy(PROFILES, 0.9), { distilled: unsure, pruned: sure }, true);
    const first = await router.route(one, 1, undefined);
    assert.deepEqual([first.role, first.cacheHit, first.escalations], ['pruned', false, 1]);
    assert.deepEqual(calls, [
      { role: 'distilled', kind: 'infer', withEmbedding: true },
      { role: 'pruned', kind: 'infer', withEmbedding: false },
    ]);
    assert.equal(router.cache.stats().size, 1, 'only the first call filled the cache');
    calls.length = 0;
    // The same input: distilled's cached embedding is reused (through its head), still unsure, so pruned is asked fresh.
    const second = await router.route(one, 1, undefined);
    assert.deepEqual([second.role, second.cacheHit, second.escalations], ['pruned', false, 1]);
    assert.deepEqual(calls, [
      { role: 'distilled', kind: 'head', withEmbedding: false },
      { role: 'pruned', kind: 'infer', withEmbedding: false },
    ]);
  });

  it('leaves a non-escalating policy alone, however unsure the answer', async () => {
    const { router, calls, metrics } = setup(new StaticPolicy('distilled', PROFILES), { distilled: unsure });
    const result = await router.route(one, 1, undefined);
    assert.deepEqual([result.role, result.escalations], ['distilled', 0]);
    assert.deepEqual(calls.map((c) => c.role), ['distilled']);
    assert.deepEqual(await escalations(metrics), []);
  });
});

describe('Router pinned variant (x-cascade-variant)', () => {
  it('forwards to the pinned role without the policy, the difficulty estimate or escalation', async () => {
    const { router, calls, metrics, estimates } = setup(new ThresholdCascadePolicy(PROFILES, 0.9), { full: unsure });
    const result = await router.route(one, 1, { variant: 'full' });
    assert.deepEqual([result.role, result.escalations, result.difficulty], ['full', 0, 0.5]);
    assert.deepEqual(calls.map((c) => c.role), ['full']);
    assert.equal(estimates(), 0);
    assert.deepEqual(await decisions(metrics), ['full pinned 1']);
    await router.route(one, 1, undefined);
    // The unpinned request goes through the policy (its decision is counted); a threshold cascade
    // ignores difficulty, so it does not pay for the estimate either.
    assert.deepEqual(await decisions(metrics), ['distilled threshold-cascade 1', 'full pinned 1']);
    assert.equal(estimates(), 0);
  });

  it("falls back in the heuristic's order when the pinned role fails", async () => {
    // At the neutral difficulty every role meets the 0.9 floor, so the heuristic's order is cheapest first.
    const { router, calls } = setup(new StaticPolicy('full', PROFILES), { quantized: refused(), distilled: refused() });
    const result = await router.route(one, 1, { variant: 'quantized' });
    assert.equal(result.role, 'pruned');
    assert.deepEqual(calls.map((c) => c.role), ['quantized', 'distilled', 'pruned']);
  });
});
