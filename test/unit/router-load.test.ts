import assert from 'node:assert/strict';
import { Ewma } from '../../router-sidecar/load/ewma.js';
import { LoadTracker } from '../../router-sidecar/load/load-tracker.js';
import { parsePrometheusText, parseSampleLine, readGauge } from '../../router-sidecar/load/prometheus-text.js';

describe('Ewma', () => {
  it('starts at the first sample and then moves by alpha', () => {
    const ewma = new Ewma(0.5);
    assert.equal(ewma.value, undefined);
    assert.equal(ewma.upper(), undefined);
    ewma.update(10);
    assert.deepEqual([ewma.value, ewma.stddev, ewma.upper()], [10, 0, 10]);
    ewma.update(20);
    assert.equal(ewma.value, 15);
    ewma.update(20);
    assert.equal(ewma.value, 17.5);
    assert.equal(ewma.count, 3);
  });

  it('converges to a constant stream with no spread', () => {
    const ewma = new Ewma(0.2);
    for (let i = 0; i < 200; i++) ewma.update(7);
    assert.equal(ewma.value, 7);
    assert.equal(ewma.stddev, 0);
  });

  it('tracks the spread of a noisy stream, so the tail estimate sits above the mean', () => {
    const ewma = new Ewma(0.05);
    for (let i = 0; i < 2000; i++) ewma.update(i % 2 === 0 ? 8 : 12);
    assert.ok(Math.abs(ewma.value! - 10) < 0.2);
    assert.ok(Math.abs(ewma.stddev! - 2) < 0.2, `stddev ${ewma.stddev}`);
    assert.ok(Math.abs(ewma.upper()! - (10 + 2.326 * 2)) < 0.5);
  });

  it('ignores non-finite samples and rejects a bad alpha', () => {
    const ewma = new Ewma(0.5);
    ewma.update(NaN);
    ewma.update(Infinity);
    assert.equal(ewma.value, undefined);
    assert.throws(() => new Ewma(0), RangeError);
    assert.throws(() => new Ewma(1.5), RangeError);
    assert.doesNotThrow(() => new Ewma(1));
  });
});

describe('LoadTracker', () => {
  function tracker() {
    let now = 0;
    const clock = { now: () => now, advance: (ms: number) => { now += ms; } };
    return { clock, load: new LoadTracker({ clock: clock.now, latencyAlpha: 0.5, errorAlpha: 0.5, staleAfterMs: 10_000 }) };
  }

  it('starts every role idle with unknown latency and missing scraped signals', () => {
    const { load } = tracker();
    const snapshot = load.snapshot();
    assert.deepEqual(Object.keys(snapshot), ['quantized', 'pruned', 'distilled', 'full']);
    assert.deepEqual(snapshot.full, {
      inFlight: 0, completed: 0, latencyMs: undefined, latencyP99Ms: undefined, errorRate: 0, queueDepth: undefined, cpuUtilization: undefined,
    });
  });

  it('counts requests in flight per role', () => {
    const { load } = tracker();
    const a = load.start('full');
    load.start('full');
    load.start('pruned');
    assert.equal(load.variant('full').inFlight, 2);
    load.finish('full', a, 'ok');
    assert.equal(load.variant('full').inFlight, 1);
    assert.equal(load.variant('pruned').inFlight, 1);
    assert.equal(load.variant('quantized').inFlight, 0);
  });

  it('never lets in-flight go negative on an unmatched finish', () => {
    const { load } = tracker();
    load.finish('full', 0, 'ok');
    assert.equal(load.variant('full').inFlight, 0);
  });

  it('measures latency with its clock for answers and timeouts but not fast errors', () => {
    const { clock, load } = tracker();
    let started = load.start('full');
    clock.advance(10);
    load.finish('full', started, 'ok');
    started = load.start('full');
    clock.advance(30);
    load.finish('full', started, 'timeout');
    assert.equal(load.variant('full').latencyMs, 20);
    started = load.start('full');
    clock.advance(1);
    load.finish('full', started, 'error');
    assert.equal(load.variant('full').latencyMs, 20);
    assert.ok(load.variant('full').latencyP99Ms! > 20);
  });

  it('forgets a latency estimate nobody refreshed, so an unlucky variant is tried again', () => {
    const { clock, load } = tracker();
    let started = load.start('distilled');
    clock.advance(300);
    load.finish('distilled', started, 'ok');
    assert.equal(load.variant('distilled').latencyMs, 300);
    clock.advance(1_999);
    assert.equal(load.variant('distilled').latencyMs, 300, 'still current');
    clock.advance(2);
    assert.equal(load.variant('distilled').latencyMs, undefined, 'stale after 2 s without a sample');
    assert.equal(load.variant('distilled').latencyP99Ms, undefined);
    started = load.start('distilled');
    clock.advance(2);
    load.finish('distilled', started, 'ok');
    assert.equal(load.variant('distilled').latencyMs, 2, 'a fresh estimate, not blended with the stale one');
  });

  it('keeps an error rate over errors and timeouts', () => {
    const { load } = tracker();
    load.finish('pruned', 0, 'ok');
    assert.equal(load.variant('pruned').errorRate, 0);
    load.finish('pruned', 0, 'error');
    assert.equal(load.variant('pruned').errorRate, 0.5);
    load.finish('pruned', 0, 'timeout');
    assert.equal(load.variant('pruned').errorRate, 0.75);
    assert.equal(load.variant('pruned').completed, 3);
  });

  it('reports scraped signals until they are older than staleAfterMs, then as missing', () => {
    const { clock, load } = tracker();
    load.setQueueDepth('distilled', 4);
    load.setCpuUtilization('distilled', 0.6);
    clock.advance(10_000);
    assert.equal(load.variant('distilled').queueDepth, 4);
    assert.equal(load.variant('distilled').cpuUtilization, 0.6);
    clock.advance(1);
    assert.equal(load.variant('distilled').queueDepth, undefined);
    assert.equal(load.variant('distilled').cpuUtilization, undefined);
    load.setQueueDepth('distilled', 0);
    assert.equal(load.variant('distilled').queueDepth, 0, 'a fresh zero is a real zero');
  });

  it('treats a NaN or negative scrape as missing', () => {
    const { load } = tracker();
    load.setQueueDepth('full', 3);
    load.setQueueDepth('full', NaN);
    assert.equal(load.variant('full').queueDepth, undefined);
    load.setCpuUtilization('full', -1);
    assert.equal(load.variant('full').cpuUtilization, undefined);
  });
});

const EXPOSITION = `# HELP inference_cascade_variant_queue_depth Requests waiting in the variant's queue.
# TYPE inference_cascade_variant_queue_depth gauge
inference_cascade_variant_queue_depth{variant="full",model="m"} 3
inference_cascade_variant_queue_depth{variant="pruned",model="m"} 0
inference_cascade_variant_queue_depth_max 16
# a plain comment
http_requests_total{method="post",path="/v2/models/m/infer",note="say \\"hi\\"\\n\\\\ok"} 1027 1395066363000
process_cpu_seconds_total 12.47
  leading_space_gauge 5
weird_values{kind="inf"} +Inf
weird_values{kind="neg"} -Inf
weird_values{kind="nan"} NaN
sci 1.5e-3
spaced { a = "1" , b="2", } 7
this line is not a sample
broken{label="unterminated} 4
no_value{a="1"}
`;

describe('Prometheus text', () => {
  it('reads samples and skips comments, HELP, TYPE and malformed lines', () => {
    const samples = parsePrometheusText(EXPOSITION);
    assert.deepEqual(samples.map((s) => s.name), [
      'inference_cascade_variant_queue_depth', 'inference_cascade_variant_queue_depth', 'inference_cascade_variant_queue_depth_max',
      'http_requests_total', 'process_cpu_seconds_total', 'leading_space_gauge', 'weird_values', 'weird_values', 'weird_values', 'sci', 'spaced',
    ]);
  });

  it('unescapes label values and reads timestamps', () => {
    const sample = parseSampleLine('http_requests_total{method="post",note="say \\"hi\\"\\n\\\\ok"} 1027 1395066363000');
    assert.deepEqual(sample, { name: 'http_requests_total', labels: { method: 'post', note: 'say "hi"\n\\ok' }, value: 1027, timestampMs: 1395066363000 });
  });

  it('reads special values', () => {
    assert.equal(readGauge(EXPOSITION, 'weird_values', { kind: 'inf' }), Infinity);
    assert.equal(readGauge(EXPOSITION, 'weird_values', { kind: 'neg' }), -Infinity);
    assert.ok(Number.isNaN(readGauge(EXPOSITION, 'weird_values', { kind: 'nan' })));
    assert.equal(readGauge(EXPOSITION, 'sci'), 0.0015);
  });

  it('reads a gauge by name and labels', () => {
    assert.equal(readGauge(EXPOSITION, 'inference_cascade_variant_queue_depth', { variant: 'full' }), 3);
    assert.equal(readGauge(EXPOSITION, 'inference_cascade_variant_queue_depth', { variant: 'pruned' }), 0);
    assert.equal(readGauge(EXPOSITION, 'inference_cascade_variant_queue_depth'), 3, 'the first sample without a label filter');
    assert.equal(readGauge(EXPOSITION, 'inference_cascade_variant_queue_depth', { variant: 'distilled' }), undefined);
    assert.equal(readGauge(EXPOSITION, 'inference_cascade_variant_queue_depth_max'), 16);
    assert.equal(readGauge(EXPOSITION, 'inference_cascade_variant'), undefined, 'a prefix of a name is not the name');
    assert.equal(readGauge(EXPOSITION, 'leading_space_gauge'), 5);
    assert.equal(readGauge(EXPOSITION, 'spaced', { a: '1', b: '2' }), 7);
    assert.equal(readGauge(EXPOSITION, 'broken'), undefined);
    assert.equal(readGauge(EXPOSITION, 'no_value'), undefined);
    assert.equal(readGauge('', 'anything'), undefined);
  });

  it('accepts blanks around the label set as Prometheus does', () => {
    assert.equal(parseSampleLine('g{a="1"}2')?.value, 2);
    assert.deepEqual(parseSampleLine('g {a="1"}  2'), { name: 'g', labels: { a: '1' }, value: 2 });
  });

  it('handles CRLF line endings', () => {
    assert.equal(readGauge('# TYPE g gauge\r\ng{a="x"} 2\r\n', 'g', { a: 'x' }), 2);
  });

  it('rejects values and timestamps that are not numbers', () => {
    for (const line of ['g 1x', 'g ', 'g 0x10', 'g 1 2 3', 'g 1 soon', 'g-x 2', '{a="1"} 2', 'g{1a="x"} 2']) {
      assert.equal(parseSampleLine(line), undefined, line);
    }
  });
});
