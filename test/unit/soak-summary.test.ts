import { strict as assert } from 'node:assert';
import { classify, inFault, rssGrowth, summarizeSoak, type SoakRecord } from '../../scripts/soak/summary.js';

describe('soak summary', () => {
  it('counts a request as lost only when it got no answer or an error without a message', () => {
    assert.deepEqual(classify(200, { prediction: 1 }), { outcome: 'answered' });
    assert.deepEqual(classify(503, { error: 'no variant could answer: distilled connect' }), { outcome: 'error', error: 'no variant could answer: distilled connect' });
    assert.equal(classify(0, undefined).outcome, 'lost');
    assert.equal(classify(502, 'Bad Gateway').outcome, 'lost');
    assert.equal(classify(500, { error: '  ' }).outcome, 'lost');
    assert.equal(classify(200, { error: 'x' }).outcome, 'lost', 'a 200 without a prediction is not an answer');
  });

  it('measures RSS growth from the run\'s second tenth to its last tenth', () => {
    const samples = Array.from({ length: 100 }, (_, i) => ({ atMs: i * 1000, bytes: i < 10 ? 50 : i < 90 ? 100 : 105 }));
    const { baseline, end, growth } = rssGrowth(samples, 100_000);
    assert.equal(baseline, 100, 'start-up growth in the first tenth is not counted');
    assert.equal(end, 105);
    assert.ok(Math.abs(growth - 0.05) < 1e-9);
  });

  it('leaves fault windows out of the p99 and fails each check that does not hold', () => {
    const records: SoakRecord[] = [];
    for (let i = 0; i < 1000; i++) records.push({ dueMs: i * 10, latencyMs: 5, status: 200, outcome: 'answered' });
    // Slow answers and errors inside a fault window do not count against the p99 outside it.
    for (let i = 0; i < 50; i++) records.push({ dueMs: 5000 + i, latencyMs: 900, status: 200, outcome: 'answered' });
    records.push({ dueMs: 5010, latencyMs: 3, status: 503, outcome: 'error', error: 'no variant could answer: pruned connect (took 12 ms)' });
    const faults = [{ what: 'pruned killed', fromMs: 4990, toMs: 5100 }];
    assert.ok(inFault(5000, faults) && !inFault(5200, faults));
    const rss = Array.from({ length: 11 }, (_, i) => ({ atMs: i * 1000, bytes: 100 }));
    const ok = summarizeSoak({ records, faults, rss, rssAfterGc: { baseline: 100, end: 105 }, durationMs: 10_000, slaP99Ms: 40 });
    assert.equal(ok.p99_ms_outside_faults, 5);
    assert.equal(ok.p99_ms_in_faults, 900);
    assert.equal(ok.errors, 1);
    assert.equal(ok.errors_outside_faults, 0);
    assert.deepEqual(ok.errors_by_message, { 'error: no variant could answer: pruned connect (took N ms)': 1 });
    assert.equal(ok.router_rss_growth, 0.05);
    assert.equal(ok.router_rss_growth_sampled, 0);
    assert.equal(ok.passed, true);

    const bad = summarizeSoak({
      records: [...records, { dueMs: 9000, latencyMs: 10_000, status: 0, outcome: 'lost', error: 'no answer' }],
      faults: [],
      rss: rss.map((s, i) => ({ ...s, bytes: i >= 9 ? 120 : 100 })),
      rssAfterGc: { baseline: 100, end: 111 },
      durationMs: 10_000,
      slaP99Ms: 40,
    });
    assert.deepEqual(bad.checks, { lost_requests: false, router_rss_growth: false, p99_ms_outside_faults: false });
    assert.equal(bad.router_rss_growth_sampled, 0.2);
    assert.equal(bad.passed, false);
  });
});
