import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../common/logger.js';
import { ROLES, type Role, type SlaSpec } from '../../crds/types.js';
import type { LoadSnapshot, VariantLoad } from '../../router-sidecar/load/load-tracker.js';
import { FEATURE_COUNT, FEATURE_NAMES, policyFeatures } from '../../router-sidecar/policy/features.js';
import { estimatedAccuracy, expectedLatencyMs, HeuristicPolicy } from '../../router-sidecar/policy/heuristic.js';
import { LearnedPolicy, openPolicySession, PolicyLoadError, rankByScore, type PolicyFallbackReason } from '../../router-sidecar/policy/learned.js';
import { loadPolicy } from '../../router-sidecar/policy/load-policy.js';
import { buildLinearPolicyGraph } from '../../router-sidecar/policy/policy-graph.js';
import { effectiveSla, type PolicyInput } from '../../router-sidecar/policy/policy.js';
import { RandomPolicy } from '../../router-sidecar/policy/random.js';
import { RoundRobinPolicy } from '../../router-sidecar/policy/round-robin.js';
import { StaticPolicy } from '../../router-sidecar/policy/static.js';
import { DEFAULT_CONFIDENCE_THRESHOLD, ThresholdCascadePolicy } from '../../router-sidecar/policy/threshold-cascade.js';
import {
  loadVariantProfiles, profileFromCard, VariantProfileError, withRelativeCosts, type VariantProfiles,
} from '../../router-sidecar/policy/variant-profile.js';

const MODELS = new URL('../../models/digits/', import.meta.url);

const PROFILES: VariantProfiles = {
  quantized: { role: 'quantized', accuracy: 0.96, latencyMsP50: 1, latencyMsP99: 3, relativeCost: 0.5 },
  pruned: { role: 'pruned', accuracy: 0.94, latencyMsP50: 0.6, latencyMsP99: 2, relativeCost: 0.3 },
  distilled: { role: 'distilled', accuracy: 0.9, latencyMsP50: 0.2, latencyMsP99: 1, relativeCost: 0.1 },
  full: { role: 'full', accuracy: 0.98, latencyMsP50: 2, latencyMsP99: 10, relativeCost: 1 },
};
const SLA: SlaSpec = { p99LatencyMs: 40, minAccuracy: 0.97 };

const idle = (): VariantLoad => ({
  inFlight: 0, completed: 0, latencyMs: undefined, latencyP99Ms: undefined, errorRate: 0, queueDepth: undefined, cpuUtilization: undefined,
});

function loadWith(overrides: Partial<Record<Role, Partial<VariantLoad>>> = {}): LoadSnapshot {
  return {
    quantized: { ...idle(), ...overrides.quantized },
    pruned: { ...idle(), ...overrides.pruned },
    distilled: { ...idle(), ...overrides.distilled },
    full: { ...idle(), ...overrides.full },
  };
}

function input(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return { difficulty: 0.5, load: loadWith(), sla: SLA, ...overrides };
}

function quietLogger() {
  const warnings: string[] = [];
  const logger = {
    info: () => {}, debug: () => {}, error: () => {},
    warn: (message: string) => { warnings.push(message); },
  } as unknown as Logger;
  return { logger, warnings };
}

describe('effectiveSla', () => {
  it('lets valid request hints replace the cascade SLA', () => {
    assert.deepEqual(effectiveSla(SLA, undefined), { latencyBudgetMs: 40, minAccuracy: 0.97 });
    assert.deepEqual(effectiveSla(SLA, { latencyBudgetMs: 100, minAccuracy: 0.9 }), { latencyBudgetMs: 100, minAccuracy: 0.9 });
    assert.deepEqual(effectiveSla(SLA, { latencyBudgetMs: 5 }), { latencyBudgetMs: 5, minAccuracy: 0.97 });
  });

  it('ignores hints that are out of range', () => {
    assert.deepEqual(effectiveSla(SLA, { latencyBudgetMs: 0, minAccuracy: 1.2 }), { latencyBudgetMs: 40, minAccuracy: 0.97 });
    assert.deepEqual(effectiveSla(SLA, { latencyBudgetMs: NaN, minAccuracy: NaN }), { latencyBudgetMs: 40, minAccuracy: 0.97 });
  });
});

describe('policyFeatures', () => {
  it('has a fixed, documented order: three request features, one correctness estimate per role, then six load features per role', () => {
    assert.equal(FEATURE_COUNT, 3 + 7 * ROLES.length);
    assert.deepEqual(FEATURE_NAMES.slice(0, 8), ['difficulty', 'latency_budget', 'min_accuracy', 'quantized_p_correct', 'pruned_p_correct', 'distilled_p_correct', 'full_p_correct', 'quantized_in_flight']);
    assert.deepEqual(FEATURE_NAMES.slice(-6), ['full_in_flight', 'full_latency', 'full_error_rate', 'full_queue_depth', 'full_cpu', 'full_signals_missing']);
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_COUNT);
  });

  it('encodes the request and each role', () => {
    const features = policyFeatures(input({
      difficulty: 0.3,
      load: loadWith({ pruned: { inFlight: 4, latencyMs: 40, errorRate: 0.25, queueDepth: 12, cpuUtilization: 0.5 } }),
    }));
    const at = (name: string) => features[FEATURE_NAMES.indexOf(name)];
    assert.equal(at('difficulty'), Math.fround(0.3));
    assert.equal(at('latency_budget'), Math.fround(40 / 90));
    assert.equal(at('min_accuracy'), Math.fround(0.97));
    assert.equal(at('pruned_in_flight'), 0.5);
    assert.equal(at('pruned_latency'), 0.5, 'latency at the budget');
    assert.equal(at('pruned_error_rate'), 0.25);
    assert.equal(at('pruned_queue_depth'), 0.75);
    assert.equal(at('pruned_cpu'), 0.5);
    assert.equal(at('pruned_signals_missing'), 0);
    assert.equal(at('full_signals_missing'), 1);
    assert.equal(at('full_latency'), 0, 'missing values are 0');
  });

  it('keeps every value in [0, 1] even for extreme inputs', () => {
    const features = policyFeatures(input({
      difficulty: 7,
      hints: { latencyBudgetMs: 1e9 },
      load: loadWith({ full: { inFlight: 1e6, latencyMs: 1e9, errorRate: 3, queueDepth: 1e9, cpuUtilization: 4 }, pruned: { cpuUtilization: -1, latencyMs: 0 } }),
    }));
    for (const [i, value] of features.entries()) assert.ok(value >= 0 && value <= 1, `${FEATURE_NAMES[i]} = ${value}`);
  });

  it('carries the correctness estimates, or 1 - difficulty for every role without an estimator', () => {
    const estimated = policyFeatures(input({ difficulty: 0.3, correctness: [0.9, 0.8, 0.7, 0.95] }));
    assert.deepEqual(ROLES.map((role) => estimated[FEATURE_NAMES.indexOf(`${role}_p_correct`)]), [0.9, 0.8, 0.7, 0.95].map(Math.fround));
    const fallback = policyFeatures(input({ difficulty: 0.25 }));
    assert.deepEqual(ROLES.map((role) => fallback[FEATURE_NAMES.indexOf(`${role}_p_correct`)]), [0.75, 0.75, 0.75, 0.75]);
  });

  it('counts partly missing signals', () => {
    const features = policyFeatures(input({ load: loadWith({ distilled: { latencyMs: 3 } }) }));
    assert.equal(features[FEATURE_NAMES.indexOf('distilled_signals_missing')], Math.fround(2 / 3));
  });

  it('writes into a caller buffer of the right size only', () => {
    const buffer = new Float32Array(FEATURE_COUNT);
    assert.equal(policyFeatures(input(), buffer), buffer);
    assert.throws(() => policyFeatures(input(), new Float32Array(3)), RangeError);
  });
});

describe('variant profiles', () => {
  it('loads every role from the model cards and prices them by p50 latency', async () => {
    const profiles = await loadVariantProfiles(MODELS.pathname);
    for (const role of ROLES) {
      const card = JSON.parse(readFileSync(new URL(`${role}/card.json`, MODELS), 'utf8')) as Record<string, number>;
      assert.equal(profiles[role].role, role);
      assert.equal(profiles[role].accuracy, card.accuracy);
      assert.equal(profiles[role].latencyMsP50, card.latency_ms_p50);
      assert.equal(profiles[role].latencyMsP99, card.latency_ms_p99);
    }
    const costs = ROLES.map((role) => profiles[role].relativeCost);
    assert.equal(Math.max(...costs), 1);
    assert.ok(costs.every((c) => c > 0 && c <= 1));
  });

  it('computes relative cost from p50 latency', () => {
    const measured = {
      quantized: { role: 'quantized', accuracy: 0.9, latencyMsP50: 1, latencyMsP99: 2 },
      pruned: { role: 'pruned', accuracy: 0.9, latencyMsP50: 2, latencyMsP99: 2 },
      distilled: { role: 'distilled', accuracy: 0.9, latencyMsP50: 0.5, latencyMsP99: 2 },
      full: { role: 'full', accuracy: 0.9, latencyMsP50: 4, latencyMsP99: 8 },
    } as const;
    assert.deepEqual(ROLES.map((r) => withRelativeCosts(measured)[r].relativeCost), [0.25, 0.5, 0.125, 1]);
  });

  it('names the file and field of a bad card', () => {
    const card = { role: 'full', accuracy: 0.9, latency_ms_p50: 1, latency_ms_p99: 2 };
    assert.deepEqual(profileFromCard(card, 'c.json'), { role: 'full', accuracy: 0.9, latencyMsP50: 1, latencyMsP99: 2 });
    const bad: [unknown, string][] = [
      [[], 'c.json: must be a JSON object'],
      [{ ...card, role: 'tiny' }, 'c.json: role must be one of quantized, pruned, distilled, full, got "tiny"'],
      [{ ...card, accuracy: 1.2 }, 'c.json: accuracy must be in (0, 1], got 1.2'],
      [{ ...card, accuracy: '0.9' }, 'c.json: accuracy must be a positive number, got "0.9"'],
      [{ ...card, latency_ms_p50: undefined }, 'c.json: latency_ms_p50 must be a positive number, got undefined'],
      [{ ...card, latency_ms_p99: 0.5 }, 'c.json: latency_ms_p99 (0.5) is below latency_ms_p50 (1)'],
    ];
    for (const [value, message] of bad) assert.throws(() => profileFromCard(value, 'c.json'), { name: 'VariantProfileError', message });
    assert.throws(() => profileFromCard(card, 'c.json', 'pruned'), /role is "full" but the card is in the pruned directory/);
  });

  it('reports a missing or unparsable card with its path', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'profiles-'));
    for (const role of ROLES) {
      mkdirSync(path.join(dir, role));
      if (role !== 'pruned') writeFileSync(path.join(dir, role, 'card.json'), JSON.stringify({ role, accuracy: 0.9, latency_ms_p50: 1, latency_ms_p99: 2 }));
    }
    await assert.rejects(loadVariantProfiles(dir), (err: unknown) => {
      assert.ok(err instanceof VariantProfileError);
      assert.match(err.message, /pruned\/card\.json: cannot read the model card: ENOENT/);
      return true;
    });
    writeFileSync(path.join(dir, 'pruned', 'card.json'), '{');
    await assert.rejects(loadVariantProfiles(dir), /pruned\/card\.json: cannot read the model card: .*JSON/);
  });
});

describe('HeuristicPolicy', () => {
  const policy = new HeuristicPolicy(PROFILES);

  it('models accuracy falling with difficulty, from perfect to twice the card error rate', () => {
    assert.equal(estimatedAccuracy(PROFILES.full, 0), 1);
    assert.ok(Math.abs(estimatedAccuracy(PROFILES.full, 0.5) - 0.98) < 1e-12);
    assert.ok(Math.abs(estimatedAccuracy(PROFILES.full, 1) - 0.96) < 1e-12);
    assert.ok(Math.abs(estimatedAccuracy(PROFILES.full, 2) - 0.96) < 1e-12, 'difficulty is clamped');
    assert.ok(Math.abs(estimatedAccuracy(PROFILES.distilled, 1, 3) - 0.7) < 1e-12);
    assert.equal(estimatedAccuracy({ ...PROFILES.distilled, accuracy: 0.1 }, 1), 0);
  });

  it('expects latency to grow with queued work, counting in-flight and queue depth once', () => {
    assert.equal(expectedLatencyMs(PROFILES.full, idle()), 10);
    assert.equal(expectedLatencyMs(PROFILES.full, { ...idle(), inFlight: 2 }), 30);
    assert.equal(expectedLatencyMs(PROFILES.full, { ...idle(), inFlight: 2, queueDepth: 3 }), 40);
    assert.equal(expectedLatencyMs(PROFILES.full, { ...idle(), inFlight: 2, latencyP99Ms: 4 }), 12, 'live p99 beats the card');
    assert.equal(expectedLatencyMs(PROFILES.full, { ...idle(), inFlight: 2 }, 2), 20);
  });

  const cases: [string, Partial<PolicyInput>, Role[], string][] = [
    ['easy input: the cheapest variant', { difficulty: 0 }, ['distilled', 'pruned', 'quantized', 'full'], 'cheapest-within-sla'],
    ['moderate input: the cheapest that is accurate enough', { difficulty: 0.2 }, ['pruned', 'quantized', 'full', 'distilled'], 'cheapest-within-sla'],
    ['average input: only full is accurate enough', { difficulty: 0.5 }, ['full', 'quantized', 'pruned', 'distilled'], 'cheapest-within-sla'],
    ['hard input: nothing is accurate enough, so the most accurate', { difficulty: 1 }, ['full', 'quantized', 'pruned', 'distilled'], 'most-accurate-within-latency'],
    ['full overloaded', { load: loadWith({ full: { inFlight: 5 } }) }, ['quantized', 'pruned', 'distilled', 'full'], 'most-accurate-within-latency'],
    ['full queue scraped deep', { load: loadWith({ full: { queueDepth: 4 } }) }, ['quantized', 'pruned', 'distilled', 'full'], 'most-accurate-within-latency'],
    ['full slow in live traffic', { load: loadWith({ full: { latencyP99Ms: 41 } }) }, ['quantized', 'pruned', 'distilled', 'full'], 'most-accurate-within-latency'],
    ['no variant within a tiny budget: the least loaded', { hints: { latencyBudgetMs: 0.5 }, load: loadWith({ distilled: { inFlight: 3 } }) },
      ['pruned', 'quantized', 'distilled', 'full'], 'least-loaded'],
    ['a looser accuracy hint', { hints: { minAccuracy: 0.85 } }, ['distilled', 'pruned', 'quantized', 'full'], 'cheapest-within-sla'],
    ['a tighter latency hint', { difficulty: 0, hints: { latencyBudgetMs: 2.5 } }, ['distilled', 'pruned', 'quantized', 'full'], 'cheapest-within-sla'],
    ['an open breaker on the cheapest', { difficulty: 0, allowed: new Set<Role>(['pruned', 'full']) }, ['pruned', 'full'], 'cheapest-within-sla'],
    ['every breaker open', { difficulty: 0, allowed: new Set<Role>() }, ['distilled', 'pruned', 'quantized', 'full'], 'cheapest-within-sla'],
  ];
  for (const [what, overrides, ranked, reason] of cases) {
    it(`routes ${what}`, () => {
      const decision = policy.decide(input(overrides));
      assert.deepEqual(decision, { role: ranked[0], ranked, reason });
    });
  }

  it('breaks ties in ROLES order', () => {
    const same = Object.fromEntries(ROLES.map((role) => [role, { ...PROFILES.full, role }])) as unknown as VariantProfiles;
    assert.deepEqual(new HeuristicPolicy(same).decide(input({ difficulty: 0 })).ranked, ROLES);
  });
});

describe('StaticPolicy', () => {
  it('always picks the configured role, then the rest by accuracy', () => {
    const policy = new StaticPolicy('pruned', PROFILES);
    const first = policy.decide();
    assert.deepEqual(first, { role: 'pruned', ranked: ['pruned', 'full', 'quantized', 'distilled'], reason: 'static' });
    assert.equal(policy.decide(), first, 'the same decision object every time');
    assert.ok(Object.isFrozen(first.ranked));
  });
});

/** A linear policy: each role scores its bias minus 10 × its in-flight feature. */
function loadAvoidingPolicy(inputWidth = FEATURE_COUNT): Uint8Array {
  const weight = new Float32Array(inputWidth * ROLES.length);
  if (inputWidth === FEATURE_COUNT) {
    ROLES.forEach((role, r) => { weight[FEATURE_NAMES.indexOf(`${role}_in_flight`) * ROLES.length + r] = -10; });
  }
  return buildLinearPolicyGraph({ weight, bias: new Float32Array([0.3, 0.2, 0.1, 1]), inputWidth });
}

/** Deterministic garbage. */
function garbage(length: number): Uint8Array {
  let state = 12345;
  return Uint8Array.from({ length }, () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 24));
}

describe('learned policy', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'policy-'));
    writeFileSync(path.join(dir, 'policy.onnx'), loadAvoidingPolicy());
    writeFileSync(path.join(dir, 'corrupt.onnx'), garbage(4096));
    writeFileSync(path.join(dir, 'narrow.onnx'), loadAvoidingPolicy(5));
  });

  function fallbacks() {
    const seen: PolicyFallbackReason[] = [];
    return { seen, onFallback: (reason: PolicyFallbackReason) => { seen.push(reason); } };
  }

  it('routes by the model scores, restricted to allowed roles', async () => {
    const { seen, onFallback } = fallbacks();
    const { logger } = quietLogger();
    const policy = await loadPolicy({ spec: { type: 'learned', model: { uri: 'file:///unused' } }, modelPath: path.join(dir, 'policy.onnx'), profiles: PROFILES, logger, onFallback });
    assert.ok(policy instanceof LearnedPolicy);
    assert.deepEqual(await policy.decide(input()), { role: 'full', ranked: ['full', 'quantized', 'pruned', 'distilled'], reason: 'learned' });
    const busy = await policy.decide(input({ load: loadWith({ full: { inFlight: 4 } }) }));
    assert.deepEqual(busy.ranked, ['quantized', 'pruned', 'distilled', 'full']);
    const restricted = await policy.decide(input({ allowed: new Set<Role>(['pruned', 'distilled']) }));
    assert.deepEqual(restricted.ranked, ['pruned', 'distilled']);
    const decisions = await Promise.all(Array.from({ length: 20 }, (_, i) => policy.decide(input({ load: loadWith({ full: { inFlight: i % 2 === 0 ? 0 : 4 } }) }))));
    assert.deepEqual(decisions.map((d) => d.role), Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'full' : 'quantized')), 'concurrent decisions do not mix inputs');
    assert.deepEqual(seen, []);
    await policy.release();
  });

  it('reads the model from a file:// URI when no path is given', async () => {
    const { seen, onFallback } = fallbacks();
    const uri = pathToFileURL(path.join(dir, 'policy.onnx')).href;
    const policy = await loadPolicy({ spec: { type: 'learned', model: { uri } }, profiles: PROFILES, logger: quietLogger().logger, onFallback });
    assert.equal(policy.type, 'learned');
    assert.deepEqual(seen, []);
    await (policy as LearnedPolicy).release();
  });

  const broken: [string, () => string | undefined, string | undefined, PolicyFallbackReason][] = [
    ['a missing file', () => path.join(dir, 'absent.onnx'), undefined, 'missing-file'],
    ['a corrupt file', () => path.join(dir, 'corrupt.onnx'), undefined, 'unreadable-model'],
    ['a directory', () => dir, undefined, 'unreadable-model'],
    ['a model of the wrong input width', () => path.join(dir, 'narrow.onnx'), undefined, 'wrong-signature'],
    ['a remote model URI', () => undefined, 's3://bucket/policy.onnx', 'no-model'],
  ];
  for (const [what, file, uri, reason] of broken) {
    it(`falls back to the heuristic for ${what}, with a warning and a fallback report`, async () => {
      const { seen, onFallback } = fallbacks();
      const { logger, warnings } = quietLogger();
      const modelPath = file();
      const policy = await loadPolicy({
        spec: { type: 'learned', model: { uri: uri ?? 'file:///unused' } }, ...(modelPath ? { modelPath } : {}), profiles: PROFILES, logger, onFallback,
      });
      assert.ok(policy instanceof HeuristicPolicy);
      assert.deepEqual(seen, [reason]);
      assert.deepEqual(warnings, ['learned policy unavailable, routing with the heuristic']);
      assert.equal((await policy.decide(input({ difficulty: 0 }))).role, 'distilled');
    });
  }

  it('explains a signature mismatch', async () => {
    await assert.rejects(openPolicySession(path.join(dir, 'narrow.onnx')), (err: unknown) => {
      assert.ok(err instanceof PolicyLoadError);
      assert.match(err.message, new RegExp(`narrow\\.onnx: features must be float32 \\[batch, ${FEATURE_COUNT}\\], got float32 \\[batch, 5\\]`));
      return true;
    });
  });

  it('routes one request with the heuristic when the model fails at run time', async () => {
    const { seen, onFallback } = fallbacks();
    const { logger, warnings } = quietLogger();
    const failing = { run: async () => { throw new Error('kernel exploded'); } } as unknown as ort.InferenceSession;
    const policy = new LearnedPolicy(failing, new HeuristicPolicy(PROFILES), onFallback, logger);
    assert.equal((await policy.decide(input({ difficulty: 0 }))).reason, 'cheapest-within-sla');
    await policy.decide(input());
    assert.deepEqual(seen, ['inference-error', 'inference-error']);
    assert.equal(warnings.length, 1, 'warned once, counted every time');
  });

  it('falls back when every score is NaN or the output is malformed', async () => {
    const outputs = [
      { scores: new ort.Tensor('float32', new Float32Array(4).fill(NaN), [1, 4]) },
      { scores: new ort.Tensor('float32', new Float32Array(3), [1, 3]) },
      { other: new ort.Tensor('float32', new Float32Array(4), [1, 4]) },
    ];
    for (const output of outputs) {
      const { seen, onFallback } = fallbacks();
      const session = { run: async () => output } as unknown as ort.InferenceSession;
      const policy = new LearnedPolicy(session, new HeuristicPolicy(PROFILES), onFallback, quietLogger().logger);
      assert.equal((await policy.decide(input())).reason, 'cheapest-within-sla');
      assert.deepEqual(seen, ['inference-error']);
    }
  });

  it('ranks scores with NaN last and ties in ROLES order', () => {
    assert.deepEqual(rankByScore([1, NaN, 3, 1]), ['distilled', 'quantized', 'full', 'pruned']);
    assert.deepEqual(rankByScore([1, 2, 3, 4], new Set<Role>(['quantized', 'pruned'])), ['pruned', 'quantized']);
    assert.deepEqual(rankByScore([1, 2, 3, 4], new Set<Role>()), ['full', 'distilled', 'pruned', 'quantized']);
    assert.deepEqual(rankByScore([-Infinity, NaN, NaN, NaN]), ['quantized', 'pruned', 'distilled', 'full']);
    assert.equal(rankByScore([NaN, NaN, NaN, NaN]), undefined);
  });

  it('builds the heuristic and static policies the spec names', async () => {
    const { seen, onFallback } = fallbacks();
    const { logger } = quietLogger();
    assert.ok(await loadPolicy({ spec: { type: 'heuristic' }, profiles: PROFILES, logger, onFallback }) instanceof HeuristicPolicy);
    const fixed = await loadPolicy({ spec: { type: 'static', staticRole: 'distilled' }, profiles: PROFILES, logger, onFallback });
    assert.equal((await fixed.decide(input())).role, 'distilled');
    assert.deepEqual(seen, []);
  });

  it('rejects a graph builder input of the wrong size', () => {
    assert.throws(() => buildLinearPolicyGraph({ weight: new Float32Array(3), bias: new Float32Array(4) }), RangeError);
    assert.throws(() => buildLinearPolicyGraph({ weight: new Float32Array(FEATURE_COUNT * 4), bias: new Float32Array(2) }), RangeError);
  });
});

// PROFILES by ascending relativeCost: distilled 0.1, pruned 0.3, quantized 0.5, full 1.

describe('RandomPolicy', () => {
  const cases: [string, number, ReadonlySet<Role> | undefined, Role[]][] = [
    ['the first role for a draw of 0', 0, undefined, ['quantized', 'distilled', 'pruned', 'full']],
    ['the role at the drawn index, the rest cheapest first', 0.5, undefined, ['distilled', 'pruned', 'quantized', 'full']],
    ['the last role for a draw just below 1', 0.999, undefined, ['full', 'distilled', 'pruned', 'quantized']],
    ['the last role for a draw of 1 (out of contract)', 1, undefined, ['full', 'distilled', 'pruned', 'quantized']],
    ['the first role for a NaN draw', NaN, undefined, ['quantized', 'distilled', 'pruned', 'full']],
    ['among allowed roles only', 0.6, new Set<Role>(['pruned', 'full']), ['full', 'pruned']],
    ['the first allowed role of a subset', 0.2, new Set<Role>(['full', 'quantized', 'distilled']), ['quantized', 'distilled', 'full']],
    ['the single allowed role, whatever the draw', 0.9, new Set<Role>(['quantized']), ['quantized']],
    ['among every role when none is allowed', 0.3, new Set<Role>(), ['pruned', 'distilled', 'quantized', 'full']],
  ];
  for (const [what, draw, allowed, ranked] of cases) {
    it(`picks ${what}`, () => {
      const policy = new RandomPolicy(PROFILES, () => draw);
      const decision = policy.decide(input(allowed ? { allowed } : {}));
      assert.deepEqual(decision, { role: ranked[0], ranked, reason: 'random' });
    });
  }

  it('draws uniformly over the allowed roles', () => {
    let state = 42;
    const lcg = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const policy = new RandomPolicy(PROFILES, lcg);
    const allowed = new Set<Role>(['quantized', 'distilled', 'full']);
    const counts = new Map<Role, number>();
    for (let i = 0; i < 3000; i++) {
      const { role } = policy.decide(input({ allowed }));
      counts.set(role, (counts.get(role) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), ['distilled', 'full', 'quantized']);
    for (const [role, count] of counts) assert.ok(count > 850 && count < 1150, `${role} drawn ${count} times of 3000`);
  });

  it('uses Math.random by default and ignores difficulty and load', () => {
    const policy = new RandomPolicy(PROFILES);
    assert.equal(policy.type, 'random');
    for (let i = 0; i < 50; i++) {
      const decision = policy.decide(input({ difficulty: i / 50, load: loadWith({ full: { inFlight: i } }) }));
      assert.ok(ROLES.includes(decision.role));
      assert.equal(decision.ranked.length, 4);
      assert.equal(decision.escalation, undefined);
    }
  });
});

describe('RoundRobinPolicy', () => {
  const all = undefined;
  const only = (...roles: Role[]) => new Set<Role>(roles);
  // Each step: the allowed roles, then the expected ranking (the choice first).
  const scenarios: [string, [ReadonlySet<Role> | undefined, Role[]][]][] = [
    ['cycles ROLES order and wraps around', [
      [all, ['quantized', 'pruned', 'distilled', 'full']],
      [all, ['pruned', 'distilled', 'full', 'quantized']],
      [all, ['distilled', 'full', 'quantized', 'pruned']],
      [all, ['full', 'quantized', 'pruned', 'distilled']],
      [all, ['quantized', 'pruned', 'distilled', 'full']],
    ]],
    ['cycles over an allowed subset', [
      [only('pruned', 'full'), ['pruned', 'full']],
      [only('pruned', 'full'), ['full', 'pruned']],
      [only('pruned', 'full'), ['pruned', 'full']],
    ]],
    ['keeps answering a single allowed role', [
      [only('distilled'), ['distilled']],
      [only('distilled'), ['distilled']],
    ]],
    ['skips a role that becomes unavailable and continues after the previous choice', [
      [all, ['quantized', 'pruned', 'distilled', 'full']],
      [only('quantized', 'distilled', 'full'), ['distilled', 'full', 'quantized']],
      [all, ['full', 'quantized', 'pruned', 'distilled']],
      [only('pruned'), ['pruned']],
      [all, ['distilled', 'full', 'quantized', 'pruned']],
    ]],
    ['treats an empty allowed set as every role', [
      [only(), ['quantized', 'pruned', 'distilled', 'full']],
      [only(), ['pruned', 'distilled', 'full', 'quantized']],
    ]],
  ];
  for (const [what, steps] of scenarios) {
    it(what, () => {
      const policy = new RoundRobinPolicy();
      steps.forEach(([allowed, ranked], step) => {
        const decision = policy.decide(input(allowed ? { allowed } : {}));
        assert.deepEqual(decision, { role: ranked[0], ranked, reason: 'round-robin' }, `step ${step}`);
      });
    });
  }
});

describe('ThresholdCascadePolicy', () => {
  const cases: [string, VariantProfiles, ReadonlySet<Role> | undefined, Role[], Role[]][] = [
    ['every role: cheapest first, up to full', PROFILES, undefined, ['distilled', 'pruned', 'quantized', 'full'], ['distilled', 'pruned', 'quantized', 'full']],
    ['an allowed subset', PROFILES, new Set<Role>(['full', 'pruned']), ['pruned', 'full'], ['pruned', 'full']],
    ['full not allowed: up to the most costly allowed role', PROFILES, new Set<Role>(['quantized', 'distilled']), ['distilled', 'quantized'], ['distilled', 'quantized']],
    ['a single allowed role: nothing to escalate to', PROFILES, new Set<Role>(['quantized']), ['quantized'], ['quantized']],
    ['no allowed role: every role', PROFILES, new Set<Role>(), ['distilled', 'pruned', 'quantized', 'full'], ['distilled', 'pruned', 'quantized', 'full']],
    ['a role costlier than full: a fallback, not an escalation step',
      { ...PROFILES, quantized: { ...PROFILES.quantized, relativeCost: 1 }, full: { ...PROFILES.full, relativeCost: 0.8 } },
      undefined, ['distilled', 'pruned', 'full', 'quantized'], ['distilled', 'pruned', 'full']],
    ['equal costs: ties in ROLES order',
      Object.fromEntries(ROLES.map((role) => [role, { ...PROFILES[role], relativeCost: 1 }])) as unknown as VariantProfiles,
      undefined, ['quantized', 'pruned', 'distilled', 'full'], ['quantized', 'pruned', 'distilled', 'full']],
  ];
  for (const [what, profiles, allowed, ranked, chain] of cases) {
    it(`plans ${what}`, () => {
      const decision = new ThresholdCascadePolicy(profiles).decide(input(allowed ? { allowed } : {}));
      assert.deepEqual(decision, { role: ranked[0], ranked, reason: 'threshold-cascade', escalation: { chain, belowConfidence: 0.9 } });
    });
  }

  it('carries the configured threshold, 0.9 by default, whatever the difficulty', () => {
    assert.equal(DEFAULT_CONFIDENCE_THRESHOLD, 0.9);
    const policy = new ThresholdCascadePolicy(PROFILES, 0.75);
    assert.equal(policy.type, 'threshold-cascade');
    for (const difficulty of [0, 1]) assert.deepEqual(policy.decide(input({ difficulty })).escalation?.belowConfidence, 0.75);
  });

  it('refuses a threshold outside (0, 1)', () => {
    for (const threshold of [0, 1, -0.5, 1.5, NaN]) {
      assert.throws(() => new ThresholdCascadePolicy(PROFILES, threshold), { name: 'RangeError', message: `confidenceThreshold must be in (0, 1), got ${threshold}` });
    }
  });
});

describe('loadPolicy with the baseline policies', () => {
  const onFallback = () => assert.fail('no fallback expected');

  it('builds random, round-robin and threshold-cascade from the spec', async () => {
    const { logger } = quietLogger();
    const random = await loadPolicy({ spec: { type: 'random' }, profiles: PROFILES, logger, onFallback, random: () => 0.99 });
    assert.ok(random instanceof RandomPolicy);
    assert.equal((await random.decide(input())).role, 'full');
    const roundRobin = await loadPolicy({ spec: { type: 'round-robin' }, profiles: PROFILES, logger, onFallback });
    assert.ok(roundRobin instanceof RoundRobinPolicy);
    assert.deepEqual([await roundRobin.decide(input()), await roundRobin.decide(input())].map((d) => d.role), ['quantized', 'pruned']);
    const cascade = await loadPolicy({ spec: { type: 'threshold-cascade' }, profiles: PROFILES, logger, onFallback });
    assert.ok(cascade instanceof ThresholdCascadePolicy);
    assert.equal(cascade.confidenceThreshold, 0.9);
    const strict = await loadPolicy({ spec: { type: 'threshold-cascade', confidenceThreshold: 0.99 }, profiles: PROFILES, logger, onFallback });
    assert.equal((await strict.decide(input())).escalation?.belowConfidence, 0.99);
  });
});
