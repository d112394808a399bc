import { strict as assert } from 'node:assert';
import { classBalance } from '../../training/data/dataset.js';
import { digitsSplit, DIGITS_DIM } from '../../training/data/digits.js';
import {
  DEFAULT_SESSIONS32,
  driftAt,
  sessions32Dataset,
  sessionStream,
  SESSIONS32_DIM,
  type SessionRequest,
} from '../../training/data/sessions32.js';
import { DatasetError, parseUserDataset } from '../../training/data/user-dataset.js';

function take(count: number, stream: Iterator<SessionRequest>): SessionRequest[] {
  return Array.from({ length: count }, () => stream.next().value as SessionRequest);
}

describe('workload sessions-32', () => {
  it('is deterministic from its seed and differs across seeds', () => {
    const a = sessions32Dataset(200, 11);
    const b = sessions32Dataset(200, 11);
    const c = sessions32Dataset(200, 12);
    assert.deepEqual(a.features, b.features);
    assert.deepEqual(a.labels, b.labels);
    assert.notDeepEqual(a.features, c.features);
  });

  it('has balanced classes and a real spread of difficulty', () => {
    const data = sessions32Dataset(4000, 3);
    const [negative] = classBalance(data);
    assert.ok(negative! > 0.45 && negative! < 0.55, `class 0 share ${negative}`);
    const margins = take(4000, sessionStream({ streamSeed: 3, activeSessions: 64, requestsPerSession: 8 })).map((r) => r.margin);
    const nearBoundary = margins.filter((m) => m < 0.05).length / margins.length;
    const easy = margins.filter((m) => m > 0.5).length / margins.length;
    assert.ok(nearBoundary > 0.03, `only ${nearBoundary} of inputs near the boundary`);
    assert.ok(easy > 0.1, `only ${easy} of inputs far from the boundary`);
  });

  it('keeps the prefix fixed within a session and varies the suffix', () => {
    const requests = take(2000, sessionStream({ streamSeed: 5, activeSessions: 16, requestsPerSession: 50 }));
    const bySession = new Map<number, SessionRequest[]>();
    for (const r of requests) bySession.set(r.session, [...(bySession.get(r.session) ?? []), r]);
    const session = [...bySession.values()].find((list) => list.length >= 5)!;
    const k = DEFAULT_SESSIONS32.prefixLength;
    for (const r of session) {
      assert.deepEqual(r.features.subarray(0, k), session[0]!.features.subarray(0, k));
      assert.equal(r.features.length, SESSIONS32_DIM);
    }
    assert.notDeepEqual(session[1]!.features.subarray(k), session[0]!.features.subarray(k));
  });

  it('drift shifts the suffix along the schedule and leaves the prefix distribution alone', () => {
    const schedule = { onset: 1000, rampRequests: 500, magnitude: 3, recovery: 3000 };
    assert.equal(driftAt(schedule, 999), 0);
    assert.equal(driftAt(schedule, 1250), 1.5);
    assert.equal(driftAt(schedule, 2000), 3);
    assert.equal(driftAt(schedule, 3000), 0);
    const stream = { streamSeed: 9, activeSessions: 32, requestsPerSession: 20 };
    const calm = take(2600, sessionStream(stream));
    const drifted = take(2600, sessionStream({ ...stream, drift: schedule }));
    const k = DEFAULT_SESSIONS32.prefixLength;
    const distance = (a: Float32Array, b: Float32Array, from: number, to: number) => {
      let sum = 0;
      for (let i = from; i < to; i++) sum += (a[i]! - b[i]!) ** 2;
      return Math.sqrt(sum);
    };
    // Same stream seed: identical before onset, prefixes identical throughout, suffix moved by
    // exactly the scheduled shift along a unit direction.
    assert.equal(distance(calm[500]!.features, drifted[500]!.features, 0, SESSIONS32_DIM), 0);
    const late = 2500;
    assert.equal(distance(calm[late]!.features, drifted[late]!.features, 0, k), 0);
    assert.ok(Math.abs(distance(calm[late]!.features, drifted[late]!.features, k, SESSIONS32_DIM) - 3) < 1e-4);
    assert.equal(drifted[late]!.driftShift, 3);
  });
});

describe('workload digits', () => {
  it('splits the 10,000 mnist digits 80/20, stratified and reproducible', () => {
    const split = digitsSplit();
    assert.equal(split.train.dim, DIGITS_DIM);
    assert.equal(split.train.classes, 10);
    assert.equal(split.train.labels.length + split.test.labels.length, 10_000);
    assert.equal(split.test.labels.length, 2000);
    for (const share of classBalance(split.test)) assert.ok(share > 0.08 && share < 0.12, `class share ${share}`);
    assert.deepEqual(digitsSplit().test.labels.subarray(0, 50), split.test.labels.subarray(0, 50));
    const pixels = split.train.features;
    assert.ok(pixels.every((v) => v >= 0 && v <= 1));
  });
});

describe('user data sets', () => {
  it('loads CSV with a label column and JSONL records', () => {
    const csv = parseUserDataset('a,b,label\n1,2,0\n3.5,-1,1\n', 'mine.csv');
    assert.equal(csv.dim, 2);
    assert.equal(csv.classes, 2);
    assert.deepEqual([...csv.features], [1, 2, 3.5, -1]);
    assert.deepEqual([...csv.labels], [0, 1]);
    const jsonl = parseUserDataset('{"features":[1,2,3],"label":2}\n\n{"features":[0,0,1],"label":0}\n', 'mine.jsonl');
    assert.equal(jsonl.dim, 3);
    assert.equal(jsonl.classes, 3);
    assert.equal(jsonl.name, 'mine');
  });

  const cases: [string, string, RegExp][] = [
    ['no label column', 'a,b\n1,2\n', /mine\.csv:1: header has no "label" column/],
    ['short row', 'a,b,label\n1,2,0\n1,0\n', /mine\.csv:3: expected 3 columns, got 2/],
    ['non-numeric feature', 'a,b,label\n1,x,0\n', /mine\.csv:2: field "b" must be a finite number, got "x"/],
    ['NaN feature', 'a,b,label\nNaN,1,0\n', /mine\.csv:2: field "a" must be a finite number/],
    ['fractional label', 'a,b,label\n1,1,0.5\n', /mine\.csv:2: field "label" must be a non-negative integer/],
    ['single class', 'a,b,label\n1,1,0\n', /needs at least 2 classes/],
    ['empty', 'a,b,label\n', /no data rows/],
  ];
  for (const [what, text, message] of cases) {
    it(`rejects a CSV with ${what}`, () => {
      assert.throws(() => parseUserDataset(text, 'mine.csv'), (error: unknown) => error instanceof DatasetError && message.test(error.message));
    });
  }

  it('loads a file of a million rows (no argument spreading over the labels)', () => {
    const text = Array.from({ length: 1_000_000 }, (_, i) => `${i % 7},${i % 3}`).join('\n');
    const data = parseUserDataset(`x,label\n${text}\n`, 'big.csv');
    assert.equal(data.labels.length, 1_000_000);
    assert.equal(data.classes, 3);
  });

  it('rejects bad JSONL lines naming the line and field', () => {
    const check = (text: string, message: RegExp) =>
      assert.throws(() => parseUserDataset(text, 'd.jsonl'), (e: unknown) => e instanceof DatasetError && message.test(e.message));
    check('{"features":[1],"label":0}\n{oops\n', /d\.jsonl:2: not valid JSON/);
    check('{"features":[1,2],"label":0}\n{"features":[1],"label":1}\n', /d\.jsonl:2: field "features" has 1 values, expected 2/);
    check('{"features":[1,"2"],"label":0}\n', /d\.jsonl:1: field "features\[1\]" must be a finite number/);
    check('{"features":[1],"label":-1}\n', /d\.jsonl:1: field "label" must be a non-negative integer/);
    check('[1,2]\n', /d\.jsonl:1: expected an object/);
    assert.throws(() => parseUserDataset('x', 'd.parquet'), /unsupported extension "\.parquet"/);
    assert.throws(() => parseUserDataset('{"features":[1],"label":3}\n{"features":[1],"label":0}\n', 'd.jsonl', { classes: 2 }), /label 3 is out of range for 2 classes/);
  });
});
