import assert from 'node:assert/strict';
import { ROLES, type Role } from '../../crds/types.js';
import { seededRandom } from '../../common/random.js';
import { cascadeOutcome, oracleRole, tuneCascadeThreshold } from '../../training/policy/baselines.js';
import { selectionCeiling } from '../../training/policy/ceiling.js';
import { beatsAtEqualLatency, summarizeRun } from '../../training/policy/compare.js';
import { parsePolicyConfig, PolicyConfigError } from '../../training/policy/config.js';
import { featureMask, relativeCosts } from '../../training/policy/environment.js';
import { calibration, rocAuc } from '../../training/policy/estimator.js';
import { clippedSurrogate, convergenceIteration, gae, lagrangianReward, RunningScale, standardize, updateMultipliers } from '../../training/policy/objective.js';
import { arrivalTimes, BURST, simulate, summarize, type ServiceModel } from '../../training/policy/simulator.js';
import type { TraceRows, VariantAnswers } from '../../training/policy/trace.js';
import { FEATURE_NAMES } from '../../router-sidecar/policy/features.js';
import { readFileSync } from 'node:fs';

describe('policy objective arithmetic', () => {
  it('prices cost, a right answer and a blown budget with the multipliers', () => {
    const m = { accuracy: 10, sla: 50 };
    assert.equal(lagrangianReward({ cost: 0.4, correct: true, overBudget: false }, m, 1), -0.4 + 10);
    assert.equal(lagrangianReward({ cost: 1, correct: false, overBudget: true }, m, 2), -2 - 50);
  });

  it('raises a multiplier while its constraint is violated, lowers it while it holds, within [0, max]', () => {
    const targets = { accuracy: 0.9, slaViolationRate: 0.01 };
    const up = updateMultipliers({ accuracy: 5, sla: 5 }, { accuracy: 0.88, slaViolationRate: 0.03 }, targets, 1);
    assert.ok(Math.abs(up.accuracy - 7) < 1e-9, `two points short -> +2, got ${up.accuracy}`);
    assert.ok(Math.abs(up.sla - 7) < 1e-9);
    const down = updateMultipliers({ accuracy: 0.5, sla: 5 }, { accuracy: 0.95, slaViolationRate: 0 }, targets, 1);
    assert.equal(down.accuracy, 0, 'never negative');
    assert.ok(Math.abs(down.sla - 4) < 1e-9);
    assert.equal(updateMultipliers({ accuracy: 99, sla: 0 }, { accuracy: 0, slaViolationRate: 0 }, targets, 1, 100).accuracy, 100, 'capped');
  });

  it('computes GAE by hand for a three-step trajectory', () => {
    const { advantages, returns } = gae([1, 0, 2], [0.5, 0.5, 0.5], 0.9, 0.8);
    const d2 = 2 - 0.5;
    const d1 = 0 + 0.9 * 0.5 - 0.5;
    const d0 = 1 + 0.9 * 0.5 - 0.5;
    const a2 = d2;
    const a1 = d1 + 0.72 * a2;
    const a0 = d0 + 0.72 * a1;
    [a0, a1, a2].forEach((a, i) => assert.ok(Math.abs(advantages[i]! - a) < 1e-12));
    [a0, a1, a2].forEach((a, i) => assert.ok(Math.abs(returns[i]! - (a + 0.5)) < 1e-12));
    assert.throws(() => gae([1], [1, 2], 0.9, 0.9), /same length/);
  });

  it('clips the PPO surrogate: no gradient beyond the clip range in the advantage direction', () => {
    const inside = clippedSurrogate(Math.log(1.1), 0, 2, 0.2);
    assert.ok(Math.abs(inside.loss + 2.2) < 1e-12);
    assert.ok(Math.abs(inside.gradLogProb + 2.2) < 1e-12);
    const beyond = clippedSurrogate(Math.log(1.5), 0, 2, 0.2);
    assert.ok(Math.abs(beyond.loss + 2.4) < 1e-12);
    assert.equal(beyond.gradLogProb, 0);
    // A negative advantage is not clipped when the ratio grows: the pessimistic bound keeps the gradient.
    const negative = clippedSurrogate(Math.log(1.5), 0, -1, 0.2);
    assert.ok(Math.abs(negative.loss - 1.5) < 1e-12);
    assert.ok(negative.gradLogProb !== 0);
  });

  it('standardizes and scales rewards', () => {
    const z = standardize(Float64Array.from([1, 2, 3, 4]));
    assert.ok(Math.abs(z.reduce((a, b) => a + b, 0)) < 1e-12);
    assert.ok(Math.abs(z.reduce((a, b) => a + b * b, 0) / 4 - 1) < 1e-12);
    const scale = new RunningScale();
    scale.update([2, 4, 6, 8]);
    assert.ok(Math.abs(scale.std - Math.sqrt(20 / 3)) < 1e-12);
    assert.ok(Math.abs(scale.scale(Math.sqrt(20 / 3)) - 1) < 1e-12);
  });

  it('finds the iteration from which a curve stays within tolerance of its final value', () => {
    assert.equal(convergenceIteration([10, 5, 2, 1.04, 1.01, 1], 0.05), 3);
    assert.equal(convergenceIteration([1, 1, 1], 0.05), 0);
    assert.equal(convergenceIteration([1, 2, 1, 2], 0.05), 3);
    // Judged against the plateau (mean of the last three), one noisy last value does not reset it.
    assert.equal(convergenceIteration([3, 1.05, 0.95, 1.04, 0.96, 1.0, 0.92], 0.1, 3), 1);
    assert.equal(convergenceIteration([3, 1.05, 0.95, 1.04, 0.96, 1.0, 0.92], 0.05), 6);
  });
});

/** A trace where `correct[role][i]` says whether the role answers row i right. */
function traceOf(correct: Record<Role, boolean[]>, confidence?: Partial<Record<Role, number[]>>): TraceRows {
  const n = correct.full.length;
  const labels = new Int32Array(n).fill(1);
  const answers = {} as Record<Role, VariantAnswers>;
  for (const role of ROLES) {
    answers[role] = {
      predictions: Int32Array.from(correct[role].map((c) => (c ? 1 : 0))),
      confidence: Float32Array.from(confidence?.[role] ?? new Array(n).fill(0.99)),
    };
  }
  return { workload: 'test', dim: 1, classes: 2, features: new Float32Array(n), labels, answers };
}

const COSTS: Record<Role, number> = { quantized: 0.6, pruned: 0.5, distilled: 0.4, full: 1 };

describe('selection ceiling', () => {
  it('scores each static route, the estimator\'s picks, a majority vote and the oracle on a known trace', () => {
    const trace = traceOf({
      quantized: [true, false, false, false],
      pruned: [true, true, false, false],
      distilled: [false, false, true, false],
      full: [true, true, false, false],
    });
    // Per row, the estimator's probability of being right for quantized, pruned, distilled, full.
    const predicted = [0.9, 0.8, 0.1, 0.7, 0.2, 0.3, 0.9, 0.4, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.9];
    const ceiling = selectionCeiling(trace, predicted);
    assert.deepEqual(ceiling.variants, { quantized: 0.25, pruned: 0.5, distilled: 0.25, full: 0.5 });
    assert.deepEqual(ceiling.best_variant, { role: 'pruned', accuracy: 0.5 });
    // Row 0 to quantized (right), row 1 to distilled (wrong), row 2 a tie: quantized (wrong), row 3 to full (wrong).
    assert.deepEqual(ceiling.estimator_choice, { accuracy: 0.25, shares: { quantized: 0.5, pruned: 0, distilled: 0.25, full: 0.25 } });
    // Row 0: 3 of 4 right; row 1: a 2-2 tie, full's answer (right); row 2: 1 of 4; row 3: none.
    assert.equal(ceiling.majority_vote, 0.5);
    assert.equal(ceiling.oracle, 0.75);
    assert.throws(() => selectionCeiling(trace, predicted.slice(1)), /predicted must hold 4 probabilities per row \(16\), got 15/);
  });
});

describe('baselines', () => {
  it('the oracle picks the cheapest role that is right, the cheapest of all when none is', () => {
    const trace = traceOf({ quantized: [true, false, false], pruned: [true, true, false], distilled: [false, false, false], full: [true, true, false] });
    assert.equal(oracleRole(trace, 0, COSTS), 'pruned');
    assert.equal(oracleRole(trace, 1, COSTS), 'pruned');
    assert.equal(oracleRole(trace, 2, COSTS), 'distilled');
  });

  it('the confidence cascade escalates until an answer is confident, and tunes the lowest threshold meeting the target', () => {
    const chain: Role[] = ['distilled', 'pruned', 'quantized', 'full'];
    const confidence = { distilled: [0.95, 0.7, 0.6], pruned: [0.9, 0.92, 0.6], quantized: [0.9, 0.9, 0.6] };
    const trace = traceOf({ quantized: [true, true, true], pruned: [true, true, false], distilled: [true, false, false], full: [true, true, true] }, confidence);
    assert.equal(cascadeOutcome(trace, 0, chain, 0.9), 'distilled');
    assert.equal(cascadeOutcome(trace, 1, chain, 0.9), 'pruned');
    assert.equal(cascadeOutcome(trace, 2, chain, 0.9), 'full');
    // Row 1 is only right from pruned on: thresholds above 0.7 send it there.
    const tuned = tuneCascadeThreshold(trace, [0, 1, 2], COSTS, 1);
    assert.equal(tuned.threshold, 0.705);
    assert.equal(tuned.accuracy, 1);
  });
});

describe('evaluation summaries', () => {
  it('counts errors as wrong and over budget, shares by the answering role', () => {
    const summary = summarizeRun(
      [
        { row: 0, status: 200, role: 'full', prediction: 1, correct: true, latencyMs: 5, lagMs: 0 },
        { row: 1, status: 200, role: 'pruned', prediction: 0, correct: false, latencyMs: 50, lagMs: 10 },
        { row: 2, status: 503, correct: false, latencyMs: 1, lagMs: 0 },
        { row: 3, status: 200, role: 'pruned', prediction: 1, correct: true, latencyMs: 2, lagMs: 0 },
      ],
      40,
    );
    assert.equal(summary.accuracy, 0.5);
    assert.equal(summary.slaViolationRate, 0.5);
    assert.equal(summary.errors, 1);
    assert.equal(summary.shares.pruned, 0.5);
    assert.equal(summary.generatorLagShare, 0.25);
  });

  it('beats at equal latency only when no slower and no less accurate, better on one', () => {
    const base = { name: 'b', p99Ms: 10, accuracy: 0.9 };
    assert.ok(beatsAtEqualLatency({ name: 'c', p99Ms: 10.5, accuracy: 0.91 }, base));
    assert.ok(!beatsAtEqualLatency({ name: 'c', p99Ms: 12, accuracy: 0.95 }, base));
    assert.ok(!beatsAtEqualLatency({ name: 'c', p99Ms: 5, accuracy: 0.89 }, base));
    assert.ok(!beatsAtEqualLatency({ ...base, name: 'c' }, base));
  });
});

describe('difficulty estimator calibration', () => {
  it('scores a perfectly calibrated and separating estimate', () => {
    const predicted = [0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9];
    const outcomes = [false, false, true, true, true, true, true, true, true, false];
    const c = calibration(predicted, outcomes);
    assert.ok(Math.abs(c.ece - (0.2 * 0.1 + 0.8 * Math.abs(0.9 - 7 / 8))) < 1e-12);
    assert.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [false, false, true, true]), 1);
    assert.equal(rocAuc([0.5, 0.5], [false, true]), 0.5);
    assert.throws(() => calibration([0.5], []), RangeError);
  });
});

describe('feature masks for the ablations', () => {
  it('drops exactly the named groups', () => {
    const noDifficulty = featureMask(['difficulty']);
    const dropped = FEATURE_NAMES.filter((_, i) => !noDifficulty[i]);
    assert.deepEqual(dropped, ['difficulty', ...ROLES.map((r) => `${r}_p_correct`)]);
    assert.deepEqual(FEATURE_NAMES.filter((_, i) => !featureMask(['sla'])[i]), ['latency_budget', 'min_accuracy']);
    const noLoad = FEATURE_NAMES.filter((_, i) => !featureMask(['load'])[i]);
    assert.equal(noLoad.length, 6 * ROLES.length);
    assert.ok(noLoad.every((name) => ROLES.some((r) => name.startsWith(`${r}_`)) && !name.endsWith('_p_correct')));
  });
});

const MODEL: ServiceModel = {
  cores: 2,
  clientCpuMs: 0.1,
  routerCpuMs: 0.2,
  variants: {
    quantized: { cpuMs: 0.3, shape: [1], delayMs: 0 },
    pruned: { cpuMs: 0.2, shape: [1], delayMs: 0 },
    distilled: { cpuMs: 0.1, shape: [1], delayMs: 0 },
    full: { cpuMs: 1, shape: [1], delayMs: 0.2 },
  },
};

describe('queueing simulator', () => {
  const trace = traceOf({ quantized: [true], pruned: [true], distilled: [false], full: [true] });
  const sla = { p99LatencyMs: 10, minAccuracy: 0.9 };

  it('gives an isolated request the sum of its stages, and escalation adds the next variant', () => {
    const [alone] = simulate({ trace, model: MODEL, rows: [0], arrivals: Float64Array.from([0]), sla, estimates: () => ({ difficulty: 0.5 }), policy: () => 'full' });
    assert.ok(Math.abs(alone!.latencyMs - (0.1 + 0.2 + 1 + 0.2)) < 1e-9, `latency ${alone!.latencyMs}`);
    assert.equal(alone!.correct, true);
    const [escalated] = simulate({
      trace, model: MODEL, rows: [0], arrivals: Float64Array.from([0]), sla, estimates: () => ({ difficulty: 0.5 }),
      policy: () => ({ role: 'distilled', escalation: { chain: ['distilled', 'full'], belowConfidence: 1 } }),
    });
    assert.equal(escalated!.served, 'full');
    assert.equal(escalated!.calls, 2);
    assert.ok(Math.abs(escalated!.latencyMs - (0.1 + 0.2 + 0.1 + 1 + 0.2)) < 1e-9);
  });

  it('serves distilled on the router when the router answers it itself, leaving its server idle', () => {
    const inRouter: ServiceModel = { ...MODEL, distilledInRouterCpuMs: 0.05 };
    const [alone] = simulate({ trace, model: inRouter, rows: [0], arrivals: Float64Array.from([0]), sla, estimates: () => ({ difficulty: 0.5 }), policy: () => 'distilled' });
    // client half + router half + the in-router run + router half + client half: no variant stage.
    assert.ok(Math.abs(alone!.latencyMs - (0.1 + 0.2 + 0.05)) < 1e-9, `latency ${alone!.latencyMs}`);
    assert.equal(alone!.served, 'distilled');
    const inFlightSeen = (model: ServiceModel) => {
      const seen: number[] = [];
      simulate({
        trace, model, rows: [0, 0], arrivals: Float64Array.from([0, 0]), sla, estimates: () => ({ difficulty: 0.5 }),
        policy: (input) => { seen.push(input.load.distilled.inFlight); return 'distilled'; },
      });
      return seen;
    };
    assert.deepEqual(inFlightSeen(MODEL), [0, 1], 'forwarded: the second request sees the first at the server');
    assert.deepEqual(inFlightSeen(inRouter), [0, 0], 'answered in the router: the distilled server never sees a request');
    assert.deepEqual(relativeCosts(inRouter), { quantized: 0.3, pruned: 0.2, distilled: 0.05, full: 1 }, 'distilled costed at the router run');
    assert.equal(relativeCosts(MODEL).distilled, 0.1);
  });

  it('queues requests behind a busy variant and shows the queue to the policy as in-flight load', () => {
    const seen: number[] = [];
    const results = simulate({
      trace, model: MODEL, rows: [0, 0, 0], arrivals: Float64Array.from([0, 0, 0]), sla, estimates: () => ({ difficulty: 0.5 }),
      policy: (input) => { seen.push(input.load.full.inFlight); return 'full'; },
    });
    assert.deepEqual(seen, [0, 1, 2]);
    const latencies = results.map((r) => r.latencyMs).sort((a, b) => a - b);
    assert.ok(latencies[2]! - latencies[0]! >= 2 - 1e-9, 'the third waits for two full services');
  });

  it('slows every busy process when more are busy than there are cores', () => {
    const oneCore = { ...MODEL, cores: 1 };
    const results = simulate({ trace, model: oneCore, rows: [0, 0], arrivals: Float64Array.from([0, 0]), sla, estimates: () => ({ difficulty: 0.5 }), policy: (_i, _r, seq) => (seq === 0 ? 'full' : 'quantized') });
    const twoCores = simulate({ trace, model: MODEL, rows: [0, 0], arrivals: Float64Array.from([0, 0]), sla, estimates: () => ({ difficulty: 0.5 }), policy: (_i, _r, seq) => (seq === 0 ? 'full' : 'quantized') });
    assert.ok(results[1]!.latencyMs > twoCores[1]!.latencyMs, 'contention on one core');
  });

  it('generates arrivals at the requested mean rate, bursty ones in phases', () => {
    const steady = arrivalTimes(20_000, 1000, 'steady', seededRandom(1));
    assert.ok(Math.abs(20_000 / (steady[steady.length - 1]! / 1000) - 1000) < 30);
    const bursty = arrivalTimes(20_000, 1000, 'bursty', seededRandom(2));
    const rate = 20_000 / (bursty[bursty.length - 1]! / 1000);
    assert.ok(Math.abs(rate - 1000) < 100, `bursty mean rate ${rate}`);
    assert.ok(BURST.high > 1 && BURST.low < 1);
    const summary = summarize(simulate({ trace, model: MODEL, rows: new Array(200).fill(0), arrivals: arrivalTimes(200, 100, 'steady', seededRandom(3)), sla, estimates: () => ({ difficulty: 0.5 }), policy: () => 'pruned' }), sla);
    assert.ok(Math.abs(summary.shares.pruned - 1) < 1e-9);
    assert.equal(summary.accuracy, 1);
  });
});

describe('policy config', () => {
  const text = readFileSync(new URL('../../configs/default.yaml', import.meta.url), 'utf8');

  it('parses the shipped config', () => {
    const config = parsePolicyConfig(text, 'configs/default.yaml');
    assert.equal(config.workload, 'sessions-32');
    assert.ok(config.ppo.iterations > 0 && config.ppo.rateRange[0] <= config.ppo.rateRange[1]);
    assert.equal(config.distilledInRouter, true);
  });

  it('names the file and field of a bad value', () => {
    assert.throws(() => parsePolicyConfig(text.replace(/gamma: [0-9.]+/, 'gamma: 1.5'), 'c.yaml'), (e: unknown) => e instanceof PolicyConfigError && /c\.yaml: ppo\.gamma must be a number in \[0, 1\], got 1\.5/.test(e.message));
    assert.throws(() => parsePolicyConfig(text.replace(/rateRange: \[[^\]]+\]/, 'rateRange: [900, 100]'), 'c.yaml'), /ppo\.rateRange must be \[low, high\]/);
    assert.throws(() => parsePolicyConfig(text.replace(/activation: tanh/, 'activation: gelu'), 'c.yaml'), /estimator\.activation must be tanh or relu, got "gelu"/);
    assert.throws(() => parsePolicyConfig(text.replace(/distilledInRouter: true/, 'distilledInRouter: yes please'), 'c.yaml'), /c\.yaml: distilledInRouter must be true or false, got "yes please"/);
    assert.throws(() => parsePolicyConfig('workload: [', 'c.yaml'), /c\.yaml: not valid YAML/);
  });
});
