import assert from 'node:assert/strict';
import type { Logger } from '../../common/logger.js';
import type { CacheSpec } from '../../crds/types.js';
import { AgentController, type AgentEffects } from '../../router-sidecar/agent/controller.js';
import {
  agentConfigFor, decide, DEFAULT_AGENT_TUNING, initialAgentState,
  type AgentConfig, type AgentState, type Observation,
} from '../../router-sidecar/agent/decide.js';
import { cosineDistance, divergence, relativeL2 } from '../../router-sidecar/agent/divergence.js';
import { DriftObserver } from '../../router-sidecar/agent/observer.js';

const close = (actual: number, expected: number, tolerance = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `expected ${expected}, got ${actual}`);

describe('divergence', () => {
  it('measures cosine distance', () => {
    close(cosineDistance([1, 2, 3], [1, 2, 3]), 0);
    close(cosineDistance([1, 2, 3], [2, 4, 6]), 0, 1e-12);
    close(cosineDistance([1, 0], [0, 1]), 1);
    close(cosineDistance([1, 0], [-1, 0]), 2);
    close(cosineDistance([1, 1], [1, 0]), 1 - Math.SQRT1_2);
  });

  it('never returns a negative cosine distance for parallel float32 vectors', () => {
    const a = new Float32Array([0.1, 0.7, 0.3, 1e-3, 5]);
    for (let i = 0; i < 50; i++) assert.ok(cosineDistance(a, a) >= 0);
  });

  it('treats zero vectors as identical to each other and orthogonal to anything else', () => {
    assert.equal(cosineDistance([0, 0], [0, 0]), 0);
    assert.equal(cosineDistance([0, 0], [1, 2]), 1);
    assert.equal(cosineDistance([1, 2], [0, 0]), 1);
  });

  it('measures L2 distance relative to the fresh embedding', () => {
    close(relativeL2([1, 2], [1, 2]), 0);
    assert.ok(relativeL2([3, 4], [0, 0]) > 1e6, 'anything against a zero fresh embedding is far off');
    close(relativeL2([0, 0], [3, 4]), 1);
    close(relativeL2([3, 5], [3, 4]), 1 / 5);
    close(relativeL2([6, 8], [3, 4]), 1, 1e-12);
    assert.equal(relativeL2([0, 0], [0, 0]), 0);
  });

  it('picks the configured metric, with the fresh embedding as the reference', () => {
    close(divergence('cosine', [1, 0], [0, 1]), 1);
    close(divergence('l2', [0, 0], [3, 4]), 1);
    close(divergence('l2', [3, 4], [6, 8]), 0.5);
  });

  it('rejects embeddings of different lengths', () => {
    assert.throws(() => cosineDistance([1], [1, 2]), RangeError);
    assert.throws(() => relativeL2([1, 2, 3], [1, 2]), RangeError);
  });
});

const CONFIG: AgentConfig = {
  threshold: 0.15, windowSize: 10, minSamples: 5, tripFraction: 0.5, cleanRunToEnable: 12,
  maxObservationAgeMs: Infinity,
};
const CLEAN = 0.01;
const DRIFT = 0.4;

/** Runs divergences through decide() the way the controller does; returns every decision. */
function run(divergences: number[], state: AgentState = initialAgentState(), config = CONFIG) {
  const window: Observation[] = [];
  const decisions = [];
  for (const [i, value] of divergences.entries()) {
    window.push({ at: i * 100, divergence: value, mark: i });
    if (window.length > config.windowSize) window.shift();
    const decision = decide(window, state, config);
    decisions.push(decision);
    state = decision.next;
  }
  return { decisions, state, actions: decisions.map((d) => d.action) };
}

const repeat = <T>(value: T, times: number): T[] => Array.from({ length: times }, () => value);

describe('decide', () => {
  it('does nothing without samples', () => {
    const state = initialAgentState();
    const decision = decide([], state, CONFIG);
    assert.equal(decision.action, 'none');
    assert.equal(decision.next, state);
  });

  it('keeps reuse on while samples are clean', () => {
    const { actions, state } = run(repeat(CLEAN, 40));
    assert.ok(actions.every((a) => a === 'none'));
    assert.deepEqual(state, { reuseEnabled: true, cleanRun: 40, cleanSince: 0 });
  });

  it('disables reuse when drift appears', () => {
    const { decisions, state } = run([...repeat(CLEAN, 10), ...repeat(DRIFT, 5)]);
    const disable = decisions.findIndex((d) => d.action === 'disable');
    assert.equal(disable, 14, 'the fifth drifted sample makes half of the window of 10');
    assert.match(decisions[disable]!.reason, /^5 of the last 10 sampled cache hits diverged by more than 0.15$/);
    assert.equal(decisions[disable]!.risk, 0.5);
    assert.equal(state.reuseEnabled, false);
    assert.equal(state.cleanRun, 0);
  });

  it('does not disable on a single outlier or before minSamples', () => {
    assert.ok(!run([...repeat(CLEAN, 9), 5, ...repeat(CLEAN, 20)]).actions.includes('disable'));
    assert.ok(!run([DRIFT, DRIFT, DRIFT, DRIFT]).actions.includes('disable'), 'four samples are below minSamples');
    assert.deepEqual(run(repeat(DRIFT, 5)).actions, ['none', 'none', 'none', 'none', 'disable']);
  });

  it('counts NaN divergence as drifted and the threshold itself as clean', () => {
    assert.equal(run(repeat(NaN, 5)).actions[4], 'disable');
    assert.ok(!run(repeat(CONFIG.threshold, 20)).actions.includes('disable'));
  });

  it('disables only once while drift continues', () => {
    const { actions } = run(repeat(DRIFT, 50));
    assert.equal(actions.filter((a) => a === 'disable').length, 1);
  });

  it('re-enables only after the clean run, then stays enabled', () => {
    const drifted = run(repeat(DRIFT, 10));
    const { decisions, actions, state } = run(repeat(CLEAN, 20), drifted.state);
    const enable = actions.indexOf('enable');
    assert.equal(enable, CONFIG.cleanRunToEnable - 1);
    assert.ok(actions.slice(0, enable).every((a) => a === 'none'));
    assert.equal(decisions[enable]!.reason, '12 consecutive shadow samples within 0.15');
    assert.equal(state.reuseEnabled, true);
    assert.deepEqual(actions.slice(enable + 1), repeat('none', 20 - enable - 1));
  });

  it('restarts the clean run on any drifted shadow sample', () => {
    const drifted = run(repeat(DRIFT, 10));
    const { actions } = run([...repeat(CLEAN, 11), DRIFT, ...repeat(CLEAN, 11)], drifted.state);
    assert.ok(!actions.includes('enable'));
    assert.equal(run([CLEAN], run([...repeat(CLEAN, 11), DRIFT, ...repeat(CLEAN, 11)], drifted.state).state).actions[0], 'enable');
  });

  it('waits for the window to clear when the clean run is shorter than the window', () => {
    const config = { ...CONFIG, windowSize: 10, cleanRunToEnable: 3 };
    const drifted = run(repeat(DRIFT, 10), undefined, config);
    const window: Observation[] = repeat(DRIFT, 7).map((divergence, i) => ({ at: i, divergence }));
    let state = drifted.state;
    const actions = [];
    for (let i = 0; i < 6; i++) {
      window.push({ at: 100 + i, divergence: CLEAN });
      if (window.length > config.windowSize) window.shift();
      const decision = decide(window, state, config);
      actions.push(decision.action);
      state = decision.next;
    }
    assert.deepEqual(actions, ['none', 'none', 'none', 'none', 'none', 'enable'], 'enable once drifted samples fall below half the window');
  });

  it('with a fixed TTL mode still disables and re-enables reuse', () => {
    const config = { ...CONFIG, adaptTtl: false };
    const drifted = run(repeat(DRIFT, 10), undefined, config);
    assert.ok(drifted.actions.includes('disable'));
    assert.ok(run(repeat(CLEAN, CONFIG.cleanRunToEnable), drifted.state, config).actions.includes('enable'));
  });

  it('in adaptive mode expires entries that may predate a change when it disables and enables reuse', () => {
    // Each sample's cache mark is its index here.
    const { decisions } = run([...repeat(CLEAN, 5), ...repeat(DRIFT, 5), DRIFT, ...repeat(CLEAN, 30)]);
    const disableAt = decisions.findIndex((d) => d.action === 'disable');
    assert.equal(decisions[disableAt]!.expireStoredBefore, disableAt, 'every entry stored before the tripping sample');
    const enableAt = decisions.findIndex((d) => d.action === 'enable');
    assert.equal(enableAt, 11 + CONFIG.cleanRunToEnable - 1);
    assert.equal(decisions[enableAt]!.expireStoredBefore, 11, 'every entry stored before the clean run began (sample 11)');
    assert.ok(decisions.filter((d) => d.action !== 'disable' && d.action !== 'enable').every((d) => d.expireStoredBefore === undefined));
  });

  it('in fixed mode expires nothing early', () => {
    const { decisions } = run([...repeat(CLEAN, 5), ...repeat(DRIFT, 6), ...repeat(CLEAN, 30)], undefined, { ...CONFIG, adaptTtl: false });
    assert.deepEqual(decisions.filter((d) => d.action === 'disable' || d.action === 'enable').map((d) => [d.action, d.expireStoredBefore]), [['disable', undefined], ['enable', undefined]]);
  });

  it('restarts the clean run after a drifted sample', () => {
    const { decisions } = run([...repeat(DRIFT, 10), ...repeat(CLEAN, 5), DRIFT, ...repeat(CLEAN, CONFIG.cleanRunToEnable)]);
    assert.equal(decisions.find((d) => d.action === 'enable')!.expireStoredBefore, 16);
  });

  it('does not act on one outlier in a full window of 20', () => {
    const config = { ...CONFIG, windowSize: 20 };
    const { actions } = run([...repeat(CLEAN, 19), DRIFT], undefined, config);
    assert.ok(actions.every((a) => a === 'none'));
  });

  it('ignores samples older than maxObservationAgeMs', () => {
    const config = { ...CONFIG, maxObservationAgeMs: 1_000 };
    const window: Observation[] = [
      ...repeat(DRIFT, 4).map((divergence, i) => ({ at: i, divergence })),
      ...repeat(DRIFT, 4).map((divergence, i) => ({ at: 5_000 + i, divergence })),
    ];
    assert.equal(decide(window, initialAgentState(), config).action, 'none', 'only 4 recent samples');
    window.push({ at: 5_010, divergence: DRIFT });
    assert.equal(decide(window, initialAgentState(), config).action, 'disable');
  });

  it('is deterministic', () => {
    const divergences = Array.from({ length: 200 }, (_, i) => ((i * 7919) % 100) / 250);
    assert.deepEqual(run(divergences), run(divergences));
  });

  it('builds its configuration from the cache spec', () => {
    const cache: CacheSpec = { enabled: true, prefixLength: 8, ttlSeconds: 60, maxEntries: 10, drift: { metric: 'cosine', threshold: 0.2, sampleRate: 0.05 } };
    assert.deepEqual(agentConfigFor(cache), {
      threshold: 0.2, windowSize: DEFAULT_AGENT_TUNING.windowSize, minSamples: 5, tripFraction: 0.5,
      cleanRunToEnable: 30, maxObservationAgeMs: Infinity, adaptTtl: true,
    });
    assert.equal(agentConfigFor(cache, { windowSize: 8 }).windowSize, 8);
    assert.equal(agentConfigFor({ ...cache, ttlMode: 'fixed' }).adaptTtl, false);
  });
});

describe('DriftObserver', () => {
  it('samples at the configured rate', () => {
    const observer = new DriftObserver({ sampleRate: 0.25, windowSize: 3 });
    assert.equal(observer.shouldSample(() => 0.2), true);
    assert.equal(observer.shouldSample(() => 0.25), false);
    assert.equal(new DriftObserver({ sampleRate: 0, windowSize: 1 }).shouldSample(() => 0), false);
    assert.equal(new DriftObserver({ sampleRate: 1, windowSize: 1 }).shouldSample(() => 0.999999), true);
    let state = 1;
    const lcg = () => ((state = (state * 48271) % 2147483647) / 2147483647);
    const sampled = Array.from({ length: 10_000 }, () => observer.shouldSample(lcg)).filter(Boolean).length;
    assert.ok(sampled > 2_300 && sampled < 2_700, `sampled ${sampled} of 10000`);
  });

  it('keeps the most recent samples, oldest first', () => {
    const observer = new DriftObserver({ sampleRate: 1, windowSize: 3 });
    for (let i = 1; i <= 5; i++) observer.record({ at: i, divergence: i / 10 });
    assert.deepEqual(observer.window().map((o) => o.at), [3, 4, 5]);
    observer.clear();
    assert.equal(observer.window().length, 0);
  });

  it('rejects a bad rate or window', () => {
    assert.throws(() => new DriftObserver({ sampleRate: 1.5, windowSize: 3 }), RangeError);
    assert.throws(() => new DriftObserver({ sampleRate: NaN, windowSize: 3 }), RangeError);
    assert.throws(() => new DriftObserver({ sampleRate: 0.5, windowSize: 0 }), RangeError);
  });
});

function recordingEffects(options: { emitEvent?: AgentEffects['emitEvent'] } = {}) {
  const calls: string[] = [];
  const logs: { level: string; message: string }[] = [];
  const logger = {
    info: (message: string) => { logs.push({ level: 'info', message }); },
    warn: (message: string) => { logs.push({ level: 'warn', message }); },
    error: (message: string) => { logs.push({ level: 'error', message }); },
    debug: () => {},
  } as unknown as Logger;
  const effects: AgentEffects = {
    setReuse: (enabled, reason) => { calls.push(`setReuse ${enabled} ${reason}`); },
    expireStoredBefore: (mark) => { calls.push(`expireStoredBefore ${mark}`); },
    recordAction: (action) => { calls.push(`record ${action}`); },
    log: logger,
    emitEvent: options.emitEvent ?? ((reason) => { calls.push(`event ${reason}`); }),
  };
  return { effects, calls, logs };
}

describe('AgentController', () => {
  function controller(effects: AgentEffects) {
    let now = 1_000;
    return new AgentController({ config: CONFIG, sampleRate: 0.5, effects, clock: () => (now += 10) });
  }

  it('applies a disable once, with one Event, however long drift lasts', () => {
    const { effects, calls } = recordingEffects();
    const agent = controller(effects);
    for (let request = 1; request <= 30; request++) agent.observe({ divergence: DRIFT, request: request * 100, mark: request });
    assert.deepEqual(calls, ['setReuse false DriftDetected', 'expireStoredBefore 5', 'event CacheReuseDisabled', 'record disable']);
    assert.equal(agent.state().reuseEnabled, false);
    assert.deepEqual(agent.actions().map(({ request, at, action }) => ({ request, at, action })), [{ request: 500, at: 1_050, action: 'disable' }]);
  });

  it('applies a reloaded threshold to new samples', () => {
    const { effects, calls } = recordingEffects();
    const agent = controller(effects);
    let request = 0;
    for (let i = 0; i < 10; i++) agent.observe({ divergence: 0.3, request: ++request });
    assert.equal(agent.state().reuseEnabled, false, '0.3 is above the 0.15 threshold');
    agent.syncReuse(true);
    agent.reconfigure({ ...CONFIG, threshold: 0.5 }, 0.5);
    calls.length = 0;
    for (let i = 0; i < 10; i++) agent.observe({ divergence: 0.3, request: ++request });
    assert.equal(agent.state().reuseEnabled, true, '0.3 is below the reloaded 0.5 threshold');
    assert.ok(!calls.some((c) => c.startsWith('setReuse false')), calls.join(', '));
  });

  it('after an administrator turns reuse back on, new drift disables it again at once', () => {
    const { effects, calls } = recordingEffects();
    const agent = controller(effects);
    let request = 0;
    for (let i = 0; i < 10; i++) agent.observe({ divergence: DRIFT, request: ++request });
    assert.equal(agent.state().reuseEnabled, false);
    agent.syncReuse(true);
    calls.length = 0;
    for (let i = 0; i < 10; i++) agent.observe({ divergence: DRIFT, request: ++request });
    assert.ok(calls.includes('setReuse false DriftDetected'), calls.join(', '));
    assert.equal(agent.state().reuseEnabled, false);
  });

  it('re-enables after the clean run, expiring entries that may predate the change each time', () => {
    const { effects, calls } = recordingEffects();
    const agent = controller(effects);
    let request = 0;
    const feed = (value: number, times: number) => { for (let i = 0; i < times; i++) { request++; agent.observe({ divergence: value, request, mark: request }); } };
    feed(CLEAN, 10);
    feed(DRIFT, 2);
    feed(CLEAN, 1);
    feed(DRIFT, 3);
    feed(CLEAN, CONFIG.cleanRunToEnable + 10);
    assert.deepEqual(calls, [
      // Entries stored before the tripping sample may hold drifted inputs' embeddings.
      'setReuse false DriftDetected', 'expireStoredBefore 16', 'event CacheReuseDisabled', 'record disable',
      // Enabling keeps only entries stored during the clean run, which began at request 17.
      'expireStoredBefore 17', 'setReuse true DriftCleared', 'event CacheReuseEnabled', 'record enable',
    ]);
    const actions = agent.actions();
    assert.deepEqual(actions.map((a) => [a.request, a.action, a.expiredStoredBefore]), [[16, 'disable', 16], [28, 'enable', 17]]);
    assert.equal(agent.state().reuseEnabled, true);
  });

  it('in observe mode records what it would do and changes nothing', () => {
    const { effects, calls, logs } = recordingEffects();
    const agent = new AgentController({ config: CONFIG, sampleRate: 0.5, effects, clock: () => 0, enforce: false });
    let request = 0;
    for (let i = 0; i < 10; i++) agent.observe({ divergence: CLEAN, request: ++request });
    for (let i = 0; i < 10; i++) agent.observe({ divergence: DRIFT, request: ++request });
    for (let i = 0; i < CONFIG.cleanRunToEnable + 5; i++) agent.observe({ divergence: CLEAN, request: ++request });
    assert.deepEqual(calls, [], 'no effect is applied');
    const actions = agent.actions();
    assert.ok(actions.length > 0 && actions.every((a) => a.enforced === false));
    assert.deepEqual(actions.map((a) => [a.request, a.action]), [[15, 'disable'], [32, 'enable']]);
    assert.ok(logs.some((l) => l.message.startsWith('cache agent would act')));
    assert.equal(agent.enforcing, false);
  });

  it('uses the sample time when given', () => {
    const { effects } = recordingEffects();
    const agent = controller(effects);
    for (let i = 0; i < 5; i++) agent.observe({ divergence: DRIFT, request: i, at: 42 + i });
    assert.equal(agent.actions()[0]!.at, 46);
    assert.equal(agent.observer.window().length, 5);
  });

  it('logs an Event that fails, synchronously or not, instead of throwing', async () => {
    const failing = recordingEffects({ emitEvent: () => { throw new Error('API down'); } });
    const agent = controller(failing.effects);
    for (let i = 0; i < 5; i++) agent.observe({ divergence: DRIFT, request: i });
    assert.equal(agent.state().reuseEnabled, false);
    assert.ok(failing.logs.some((l) => l.level === 'warn' && l.message === 'could not emit cache agent event'));

    const rejecting = recordingEffects({ emitEvent: () => Promise.reject(new Error('forbidden')) });
    const other = controller(rejecting.effects);
    for (let i = 0; i < 5; i++) other.observe({ divergence: DRIFT, request: i });
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(rejecting.logs.some((l) => l.message === 'could not emit cache agent event'));
  });

  it('keeps the most recent actions up to maxActions', () => {
    const build = (maxActions: number) => new AgentController({
      config: { ...CONFIG, cleanRunToEnable: 1, windowSize: 5 }, sampleRate: 1, effects: recordingEffects().effects, clock: () => 0, maxActions,
    });
    const bounded = build(3);
    const unbounded = build(1000);
    let request = 0;
    for (let cycle = 0; cycle < 8; cycle++) {
      for (const divergence of [...repeat(DRIFT, 5), ...repeat(CLEAN, 5)]) {
        request++;
        bounded.observe({ divergence, request });
        unbounded.observe({ divergence, request });
      }
    }
    assert.ok(unbounded.actions().length > 10);
    assert.deepEqual(bounded.actions(), unbounded.actions().slice(-3));
  });
});
