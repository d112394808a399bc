// policy.distilledInRouter: requests routed to distilled are answered by the router's own copy of
// the distilled model (the difficulty estimate's answer when it computed one), against fake
// variant clients behind the real forwarder, prefix cache and metrics.
import { strict as assert } from 'node:assert';
import { ROLES, type Role } from '../../crds/types.js';
import type { DifficultyEstimator } from '../../router-sidecar/local-models.js';
import type { RouterMetrics } from '../../router-sidecar/metrics.js';
import type { Policy } from '../../router-sidecar/policy/policy.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { ThresholdCascadePolicy } from '../../router-sidecar/policy/threshold-cascade.js';
import type { VariantAnswer } from '../../router-sidecar/upstream.js';
import { fakeRouter, PROFILES, type Behaviour } from '../support/fake-router.js';

const one = Float32Array.from([0.1, 0.2]);
const local: VariantAnswer = { rows: 1, embedding: Float32Array.from([7, 8, 9]), probabilities: Float32Array.from([0.2, 0.8]) };

/** A policy that reads the difficulty estimate and always picks `role`. */
const choosing = (role: Role): Policy => ({
  type: 'learned',
  decide: () => ({ role, ranked: [role, ...ROLES.filter((r) => r !== role)], reason: 'learned' }),
});

interface Counts {
  estimates: number;
  localRuns: number;
}

/** A distilled-backed estimator: its estimate carries the distilled answer when `withProbe`. */
function localEstimator(counts: Counts, withProbe: boolean, fail = false): DifficultyEstimator {
  return {
    source: 'distilled-margin',
    estimate: async () => {
      counts.estimates += 1;
      return withProbe ? { difficulty: 0.3, distilled: local } : { difficulty: 0.3 };
    },
    answerDistilled: async () => {
      counts.localRuns += 1;
      if (fail) throw new Error('session released');
      return local;
    },
    close: async () => {},
  };
}

function setup(policy: Policy, options: { enabled?: boolean; withProbe?: boolean; fail?: boolean; cacheEnabled?: boolean; behaviour?: Behaviour } = {}) {
  const built = fakeRouter(policy, options.behaviour ?? {}, { cacheEnabled: options.cacheEnabled ?? false });
  const counts: Counts = { estimates: 0, localRuns: 0 };
  built.cascade.difficulty = localEstimator(counts, options.withProbe ?? true, options.fail);
  if (options.enabled ?? true) built.cascade.config.policy = { ...built.cascade.config.policy, distilledInRouter: true };
  return { ...built, counts };
}

async function inRouterAnswers(metrics: RouterMetrics): Promise<number> {
  return (await metrics.inRouterAnswers.get()).values.reduce((sum, v) => sum + v.value, 0);
}

describe('Router answering distilled in the router (policy.distilledInRouter)', () => {
  it("answers with the difficulty estimate's distilled answer: no variant call, no second run", async () => {
    const { router, calls, counts, metrics } = setup(choosing('distilled'));
    const result = await router.route(one, 1, undefined);
    assert.deepEqual([result.role, result.inRouter, result.cacheHit], ['distilled', true, false]);
    assert.deepEqual(Array.from(result.probabilities), Array.from(local.probabilities));
    assert.deepEqual(result.predictions, [1]);
    assert.deepEqual(result.attempts, []);
    assert.deepEqual(calls, []);
    assert.deepEqual(counts, { estimates: 1, localRuns: 0 });
    assert.equal(await inRouterAnswers(metrics), 1);
  });

  it('runs the local copy for a policy that skips the estimate (static)', async () => {
    const { router, calls, counts } = setup(new StaticPolicy('distilled', PROFILES));
    const result = await router.route(one, 1, undefined);
    assert.deepEqual([result.role, result.inRouter], ['distilled', true]);
    assert.deepEqual(calls, []);
    assert.deepEqual(counts, { estimates: 0, localRuns: 1 });
  });

  it('forwards other roles, pinned requests, and everything when the option is off', async () => {
    const other = setup(choosing('pruned'));
    const pruned = await other.router.route(one, 1, undefined);
    assert.deepEqual([pruned.role, pruned.inRouter], ['pruned', false]);
    assert.deepEqual(other.calls.map((c) => c.role), ['pruned']);

    const pinned = setup(choosing('pruned'));
    const answer = await pinned.router.route(one, 1, { variant: 'distilled' });
    assert.deepEqual([answer.role, answer.inRouter], ['distilled', false]);
    assert.deepEqual(pinned.calls.map((c) => c.role), ['distilled'], 'x-cascade-variant asks the variant server');

    const off = setup(choosing('distilled'), { enabled: false });
    const forwarded = await off.router.route(one, 1, undefined);
    assert.deepEqual([forwarded.role, forwarded.inRouter], ['distilled', false]);
    assert.deepEqual(off.calls.map((c) => c.role), ['distilled']);
    assert.equal(await inRouterAnswers(off.metrics), 0);
  });

  it('forwards when the local run fails, so the request is still answered', async () => {
    const { router, calls, metrics } = setup(new StaticPolicy('distilled', PROFILES), { fail: true });
    const result = await router.route(one, 1, undefined);
    assert.deepEqual([result.role, result.inRouter], ['distilled', false]);
    assert.deepEqual(calls.map((c) => c.role), ['distilled']);
    assert.equal(await inRouterAnswers(metrics), 0);
  });

  it('caches the in-router embedding on a miss and reuses it on the next hit', async () => {
    const { router, calls, counts } = setup(new StaticPolicy('distilled', PROFILES), { cacheEnabled: true });
    const first = await router.route(one, 1, undefined);
    assert.deepEqual([first.inRouter, first.cacheHit], [true, false]);
    assert.equal(router.cache.stats().size, 1);
    const second = await router.route(one, 1, undefined);
    assert.deepEqual([second.inRouter, second.cacheHit], [false, true]);
    // The fake distilled head answers for the cached embedding; the encoder did not run again.
    assert.deepEqual(calls.map((c) => `${c.role} ${c.kind}`), ['distilled head']);
    assert.equal(counts.localRuns, 1);
  });

  it('escalates an unsure in-router answer to the variant servers (threshold-cascade)', async () => {
    const unsure: VariantAnswer = { rows: 1, embedding: local.embedding, probabilities: Float32Array.from([0.6, 0.4]) };
    const { router, calls, cascade } = setup(new ThresholdCascadePolicy(PROFILES, 0.9), { behaviour: { pruned: [0.97, 0.03] } });
    cascade.difficulty = { ...cascade.difficulty, answerDistilled: async () => unsure };
    const result = await router.route(one, 1, undefined);
    assert.deepEqual([result.role, result.escalations, result.inRouter], ['pruned', 1, false]);
    assert.deepEqual(calls.map((c) => c.role), ['pruned'], 'distilled was answered in the router');
  });
});
