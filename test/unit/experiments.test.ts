// The experiments' pure parts (arrival schedules, summaries, recommendations) and their
// determinism when replayed through the router's own cache code on simulated time.
import { strict as assert } from 'node:assert';
import { arrivalTimes, DEFAULT_BURST, offRate } from '../../experiments/arrivals.js';
import { runCanary } from '../../experiments/canary.js';
import { withoutTiming } from '../../experiments/report.js';
import { pairedComparison } from '../../experiments/summary.js';
import { adaptiveVersusFixed, recommend, recordRiskTraffic, riskGrid, RISK_SETTINGS, ttlClaim, type RiskCell } from '../../experiments/risk.js';
import { bestWithin, detectionDelay, latencySummary } from '../../experiments/summary.js';

describe('arrival schedules', () => {
  it('average the requested rate, steady or bursty, and repeat from the seed', () => {
    for (const profile of ['steady', 'bursty'] as const) {
      const times = arrivalTimes({ profile, rate: 400, durationMs: 3_600_000, seed: 5 });
      assert.ok(Math.abs(times.length / 3600 - 400) < 20, `${profile}: ${times.length / 3600}/s`);
      assert.ok(times.every((t, i) => t >= 0 && t < 3_600_000 && (i === 0 || t >= times[i - 1]!)));
      assert.deepEqual(arrivalTimes({ profile, rate: 400, durationMs: 3_600_000, seed: 5 }), times);
      assert.notDeepEqual(arrivalTimes({ profile, rate: 400, durationMs: 3_600_000, seed: 6 }), times);
    }
  });

  it('makes bursts: the busiest 100 ms windows of a bursty schedule are much busier than steady ones', () => {
    const busiest = (times: number[]) => {
      const counts = new Map<number, number>();
      for (const t of times) counts.set(Math.floor(t / 100), (counts.get(Math.floor(t / 100)) ?? 0) + 1);
      return [...counts.values()].sort((a, b) => b - a).slice(0, 20).reduce((a, b) => a + b, 0) / 20;
    };
    const steady = busiest(arrivalTimes({ profile: 'steady', rate: 300, durationMs: 60_000, seed: 1 }));
    const bursty = busiest(arrivalTimes({ profile: 'bursty', rate: 300, durationMs: 60_000, seed: 1 }));
    assert.ok(bursty > 1.8 * steady, `bursty ${bursty} vs steady ${steady}`);
  });

  it('refuses shapes that cannot keep the mean and bad rates', () => {
    assert.equal(offRate(300, DEFAULT_BURST), 100);
    assert.throws(() => offRate(300, { peakFactor: 5, meanOnMs: 500, meanOffMs: 500 }), /cannot average 300\/s/);
    assert.throws(() => arrivalTimes({ profile: 'steady', rate: 0, durationMs: 10, seed: 1 }), /rate must be > 0/);
  });
});

describe('experiment summaries', () => {
  it('summarizes latency by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(latencySummary(values), { mean_ms: 50.5, p50_ms: 50, p95_ms: 95, p99_ms: 99 });
  });

  it('finds the most reuse within a risk budget and the detection delay', () => {
    const points = [{ hitRate: 0.5, risk: 0.01 }, { hitRate: 0.8, risk: 0.04 }, { hitRate: 0.7, risk: 0.02 }];
    assert.equal(bestWithin(points, 0.03)?.hitRate, 0.7);
    assert.equal(bestWithin(points, 0.001), undefined);
    assert.equal(detectionDelay([{ request: 50, action: 'disable' }, { request: 120, action: 'enable' }, { request: 180, action: 'disable' }], 100), 80);
    assert.equal(detectionDelay([{ request: 50, action: 'disable' }], 100), null);
  });

  it('drops only timing fields when comparing runs', () => {
    assert.deepEqual(withoutTiming({ p99_ms: 3, hit_rate: 0.5, runs: [{ rps: 10, cache: 'off' }] }), { hit_rate: 0.5, runs: [{ cache: 'off' }] });
  });

  const cell = (mode: RiskCell['mode'], ttl: number, hit: number, risk: number): RiskCell => ({
    ttl_seconds: ttl, prefix_length: 8, mode, drift_threshold: mode === 'fixed' ? null : 0.06, hit_rate: hit, risk, risk_on_hits: 0, error_rate: 0, fresh_error_rate: 0, error_increase: 0,
    divergence_cosine_p99_on_hits: 0, expirations: 0, disables: 0, early_expiries: 0,
  });

  it('calls a higher risk on the same requests significant only when McNemar does', () => {
    const flags = (ones: number[], n = 1000) => { const f = new Uint8Array(n); for (const i of ones) f[i] = 1; return f; };
    const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
    const shared = range(0, 50);
    const close = pairedComparison(flags([...shared, ...range(100, 12)]), flags([...shared, ...range(200, 8)]));
    assert.deepEqual(close, { onlyA: 12, onlyB: 8, z: 0.894, aMore: false });
    const far = pairedComparison(flags([...shared, ...range(100, 40)]), flags([...shared, ...range(200, 10)]));
    assert.equal(far.aMore, true);
    assert.deepEqual(pairedComparison(flags(shared), flags(shared)), { onlyA: 0, onlyB: 0, z: 0, aMore: false });
    assert.throws(() => pairedComparison(new Uint8Array(3), new Uint8Array(4)), /differ in length/);
  });

  it('counts an adaptive setting a few requests riskier than a fixed one as no riskier, given paired flags', () => {
    const fixed = cell('fixed+agent', 1, 0.7, 0.024);
    const adaptive = cell('adaptive', 1, 0.7, 0.025);
    assert.equal(adaptiveVersusFixed([fixed, adaptive], [8]).holds, false, 'without flags: strictly more risk');
    const flags = new Map([[fixed, new Uint8Array(1000).fill(1, 0, 24)], [adaptive, new Uint8Array(1000).fill(1, 1, 26)]]);
    const comparison = adaptiveVersusFixed([fixed, adaptive], [8], 0.005, flags);
    assert.equal(comparison.holds, true);
    assert.deepEqual(comparison.against[0]!.higher_risk_not_significant, { only_adaptive_changed: 2, only_fixed_changed: 1, z: 0.577 });
  });

  it('recommends per budget and compares adaptive with every fixed setting', () => {
    const cells = [cell('fixed', 1, 0.5, 0.01), cell('fixed', 10, 0.8, 0.04), cell('adaptive', 10, 0.75, 0.02), cell('adaptive', 1, 0.5, 0.009)];
    assert.deepEqual(recommend(cells, [0.005, 0.03]).map((r) => [r.ttl_seconds, r.mode]), [[null, null], [10, 'adaptive']]);
    const comparison = adaptiveVersusFixed(cells, [8]);
    assert.equal(comparison.holds, false, 'fixed 10 s reaches 0.8 at 0.04, adaptive only 0.75');
    assert.deepEqual(comparison.worst.fixed, { mode: 'fixed', ttl_seconds: 10, prefix_length: 8, drift_threshold: null, hit_rate: 0.8, risk: 0.04 });
    assert.equal(adaptiveVersusFixed([...cells, cell('adaptive', 20, 0.81, 0.035)], [8]).holds, true);
    assert.equal(adaptiveVersusFixed([...cells, cell('fixed', 40, 0.95, 0.3)], [8]).holds, false);
    assert.equal(adaptiveVersusFixed([...cells, cell('fixed', 40, 0.95, 0.3)], [8], 0.005, undefined, 0.05).against.length, 2, 'settings beyond every risk budget are left out');
    const claim = ttlClaim(cells, 8);
    assert.deepEqual([claim.risk_grows_with_ttl, claim.hit_rate_grows_with_ttl], [true, true]);
  });
});

describe('risk and canary experiments (router cache code on simulated time)', function () {
  this.timeout(120_000);
  const small = { ...RISK_SETTINGS, thresholds: [0.06], samplingRuns: 1, requests: 3000, ttlSeconds: [1, 10], prefixLengths: [2, 8], stream: { ...RISK_SETTINGS.stream, drift: { onset: 1000, rampRequests: 100, magnitude: 4, recovery: 2000 } } };

  it('gives the same grid twice from one seed, with the expected shape', async () => {
    const traffic = await recordRiskTraffic(9, small);
    const first = await riskGrid(traffic, 9, small);
    const second = await riskGrid(await recordRiskTraffic(9, small), 9, small);
    assert.deepEqual(second, first);
    assert.equal(first.length, 2 * 2 * 3);
    const at = (k: number, ttl: number) => first.find((c) => c.mode === 'fixed' && c.prefix_length === k && c.ttl_seconds === ttl)!;
    assert.ok(at(2, 10).risk > 2 * at(8, 10).risk, 'a key shorter than the tenants\' shared prefix reuses other sessions\' embeddings');
    assert.ok(at(8, 10).hit_rate > at(8, 1).hit_rate, 'a longer TTL reuses more');
    assert.ok(first.filter((c) => c.mode === 'fixed').every((c) => c.disables === 0 && c.early_expiries === 0), 'observe mode changes nothing');
    const agent = first.find((c) => c.mode === 'fixed+agent' && c.prefix_length === 2 && c.ttl_seconds === 10)!;
    assert.ok(agent.disables >= 1 && agent.risk < at(2, 10).risk / 10, `the agent turns the risky key's reuse off: risk ${agent.risk}`);
  });

  it('reaches the same canary verdicts twice: a shorter key is kept out, a longer TTL promoted', async () => {
    const logs: string[] = [];
    const first = await runCanary({ seed: 2026, log: (m) => logs.push(m) });
    const second = await runCanary({ seed: 2026, log: () => {} });
    assert.deepEqual(withoutTiming(second.json), withoutTiming(first.json));
    const trials = first.json.trials as { verdict: string }[];
    assert.deepEqual(trials.map((t) => t.verdict), ['keep-current', 'promote']);
  });
});
