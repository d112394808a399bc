import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessions32Dataset, SESSIONS32_DIM } from '../../training/data/sessions32.js';
import { wilsonInterval } from '../../common/wilson.js';
import { clopperPearson, pairedAccuracy } from '../../training/variants/paired-accuracy.js';
import { parseScoreArgs, SCORE_STREAM_SEED, scoreCascade, UsageError, type ScoreArgs } from '../../training/variants/score.js';

/** Correctness vectors with `onlyA` rows only a right, `onlyB` only b right, `both` both right, `neither` both wrong. */
function pairs(onlyA: number, onlyB: number, both: number, neither: number): { a: Uint8Array; b: Uint8Array } {
  const rows = onlyA + onlyB + both + neither;
  const a = new Uint8Array(rows);
  const b = new Uint8Array(rows);
  let i = 0;
  for (let k = 0; k < onlyA; k++) a[i++] = 1;
  for (let k = 0; k < onlyB; k++) b[i++] = 1;
  for (let k = 0; k < both; k++, i++) a[i] = b[i] = 1;
  return { a, b };
}

describe('paired accuracy against full', () => {
  it('counts discordant rows, the difference in points and its interval', () => {
    const { a: full, b: quantized } = pairs(300, 200, 9000, 500);
    const report = pairedAccuracy({ full, quantized }, 'full');
    assert.equal(report.rows, 10_000);
    assert.equal(report.variants.full!.accuracy, 0.93);
    assert.equal(report.variants.quantized!.accuracy, 0.92);
    const d = report.paired_vs_reference.quantized!;
    assert.deepEqual([d.only_reference_right, d.only_variant_right], [300, 200]);
    assert.ok(Math.abs(d.difference_points - -1) < 1e-9, String(d.difference_points));
    // 500 discordant rows, the variant wins 200: share 0.4, exact interval (0.3567, 0.4446), times
    // 500 / 10,000 * (2 * share - 1) * 100 points; the normal approximation gives -1.438 to -0.562.
    assert.ok(Math.abs(d.ci95_points[0] - -1.433) < 2e-3 && Math.abs(d.ci95_points[1] - -0.554) < 2e-3, JSON.stringify(d.ci95_points));
    assert.ok(d.mcnemar_p < 1e-5);
    assert.equal(report.reference_most_accurate, true);
    assert.deepEqual(report.reference_significantly_better_than, ['quantized']);
    assert.deepEqual(report.significantly_better_than_reference, []);
  });

  it('a handful of discordant rows: the interval is exact and agrees with the exact McNemar test', () => {
    // 5 rows only full gets right, none the other way: exact p = 2/32 = 0.0625, not significant;
    // the share interval for 0 of 5 is (0, 1 - 0.025^(1/5)) = (0, 0.5218), so it spans 0.
    const { a: full, b: pruned } = pairs(5, 0, 1900, 95);
    const d = pairedAccuracy({ full, pruned }, 'full').paired_vs_reference.pruned!;
    assert.equal(d.mcnemar_p, 0.0625);
    assert.ok(Math.abs(d.ci95_points[0] - -0.25) < 1e-9, String(d.ci95_points[0]));
    assert.ok(Math.abs(d.ci95_points[1] - (5 / 2000) * (2 * (1 - 0.025 ** (1 / 5)) - 1) * 100) < 1e-6, String(d.ci95_points[1]));
    assert.deepEqual(pairedAccuracy({ full, pruned }, 'full').reference_significantly_better_than, []);
    // Eight such rows: p = 2/256, and the interval now lies below 0.
    const eight = pairs(8, 0, 1900, 92);
    assert.deepEqual(pairedAccuracy({ full: eight.a, pruned: eight.b }, 'full').reference_significantly_better_than, ['pruned']);
  });

  it('Clopper-Pearson bounds leave 2.5% of the binomial on each side (checked by summing the binomial)', () => {
    const binomialTail = (k: number, n: number, p: number, upper: boolean): number => {
      let sum = 0;
      let term = (1 - p) ** n; // P(X = 0)
      for (let x = 0; x <= n; x++) {
        if (upper ? x >= k : x <= k) sum += term;
        term *= ((n - x) / (x + 1)) * (p / (1 - p));
      }
      return sum;
    };
    for (const [k, n] of [[7, 20], [200, 500], [1, 3]] as const) {
      const [low, high] = clopperPearson(k, n);
      assert.ok(Math.abs(binomialTail(k, n, low, true) - 0.025) < 1e-9, `${k}/${n} lower ${low}`);
      assert.ok(Math.abs(binomialTail(k, n, high, false) - 0.025) < 1e-9, `${k}/${n} upper ${high}`);
    }
    assert.deepEqual(clopperPearson(0, 0), [0, 1]);
    assert.equal(clopperPearson(4, 4)[1], 1);
  });

  it('a tie within noise is neither a lead nor significant; a variant ahead makes full not the most accurate', () => {
    const { a: full, b: tied } = pairs(21, 20, 900, 59);
    const ahead = full.slice();
    ahead[ahead.length - 1] = 1; // one more row right than full, and none less
    const report = pairedAccuracy({ full, tied, ahead }, 'full');
    assert.ok(report.paired_vs_reference.tied!.mcnemar_p > 0.5);
    assert.ok(report.paired_vs_reference.tied!.ci95_points[0] < 0 && report.paired_vs_reference.tied!.ci95_points[1] > 0);
    assert.deepEqual(report.reference_significantly_better_than, []);
    assert.deepEqual(report.significantly_better_than_reference, []);
    assert.equal(report.reference_most_accurate, false);
    assert.equal(pairedAccuracy({ full, tied }, 'full').reference_most_accurate, true);
    // An exact tie (as many rows each way) still counts as full being the most accurate.
    const even = pairs(20, 20, 900, 60);
    assert.equal(pairedAccuracy({ full: even.a, even: even.b }, 'full').reference_most_accurate, true);
    assert.deepEqual(pairedAccuracy({ full, same: full.slice() }, 'full').paired_vs_reference.same!.ci95_points, [0, 0]);
  });

  it('Wilson interval: 93 of 100 is 0.8625 to 0.9657 (worked by hand from the formula)', () => {
    const [low, high] = wilsonInterval(93, 100);
    assert.ok(Math.abs(low - 0.8625) < 1e-4 && Math.abs(high - 0.9657) < 1e-4, `${low} ${high}`);
    assert.deepEqual(wilsonInterval(0, 10).map((x) => Math.round(x * 1e4) / 1e4), [0, 0.2775]);
  });

  it('refuses an unknown reference, no rows, and vectors of different lengths', () => {
    assert.throws(() => pairedAccuracy({ full: new Uint8Array(3) }, 'teacher'), /reference "teacher" is not among the scored variants \(full\)/);
    assert.throws(() => pairedAccuracy({ full: new Uint8Array(0) }, 'full'), /no rows were scored/);
    assert.throws(() => pairedAccuracy({ full: new Uint8Array(3), pruned: new Uint8Array(2) }, 'full'), /correct\.pruned has 2 rows, full has 3/);
  });
});

describe('npm run models:score', () => {
  const quiet = (): void => undefined;
  const args = (argv: string[]): ScoreArgs => parseScoreArgs(argv)!;
  it('arguments: defaults, report names, and each bad combination named', () => {
    const parse = (...argv: string[]) => parseScoreArgs(argv)!;
    const s32 = parse('--workload', 'sessions-32');
    assert.deepEqual(s32.data, { kind: 'sessions-32', rows: 1_000_000 });
    assert.match(s32.modelsDir, /models\/sessions-32$/);
    assert.match(s32.out, /reports\/models-score-sessions-32\.json$/);
    assert.deepEqual(parse('--workload', 'digits').data, { kind: 'digits' });
    assert.deepEqual(parse('--models', 'm', '--data', '/tmp/mine.csv', '--label-column', 'y').data, { kind: 'file', file: '/tmp/mine.csv', labelColumn: 'y' });
    // A user's file named like a workload, or other models on a workload, never overwrite the reference reports.
    assert.match(parse('--models', 'm', '--data', '/tmp/digits.csv').out, /reports\/models-score-data-digits\.json$/);
    assert.match(parse('--workload', 'digits', '--models', '/srv/candidate').out, /reports\/models-score-digits-candidate\.json$/);
    assert.equal(parse('--workload', 'digits', '--out', '/tmp/x.json').out, '/tmp/x.json');
    assert.equal(parseScoreArgs(['--help']), undefined);
    const usage = (argv: string[], message: RegExp) => assert.throws(() => parseScoreArgs(argv), (e: unknown) => e instanceof UsageError && message.test(e.message));
    usage(['--workload', 'imagenet'], /--workload "imagenet" is unknown: one of sessions-32, digits/);
    usage(['--workload', 'sessions-32', '--rows', '10'], /--rows must be an integer >= 1000, got "10"/);
    usage(['--workload', 'digits', '--rows', '5000'], /--rows applies to sessions-32 only/);
    usage(['--workload', 'digits', '--data', 'x.csv'], /--workload and --data are exclusive/);
    usage(['--data', 'x.csv'], /give --workload, or --models and --data/);
    usage(['--workload', 'digits', '--seed', '1'], /Unknown option '--seed'/);
  });

  describe('on a labelled file', function () {
    this.timeout(60_000);
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'models-score-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('scores the four committed sessions-32 variants on the same rows as they are served', async () => {
      const data = sessions32Dataset(1500, SCORE_STREAM_SEED + 1000);
      const lines = ['label,' + Array.from({ length: SESSIONS32_DIM }, (_, i) => `x${i}`).join(',')];
      for (let r = 0; r < 1500; r++) lines.push(`${data.labels[r]},${Array.from(data.features.subarray(r * SESSIONS32_DIM, (r + 1) * SESSIONS32_DIM)).join(',')}`);
      const file = join(dir, 'held.csv');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const logged: string[] = [];
      const report = await scoreCascade(args(['--models', 'models/sessions-32', '--data', file]), (line) => logged.push(line));
      // The int8 graph's activation scale spans its batch: it is scored one row at a time, as served.
      assert.ok(logged.some((line) => /^quantized: 1500 rows in .* \(batch 1\)$/.test(line)), logged.join('\n'));
      assert.ok(logged.some((line) => /^full: 1500 rows in .* \(batch 256\)$/.test(line)), logged.join('\n'));
      assert.equal(report.rows, 1500);
      assert.deepEqual(Object.keys(report.variants), ['full', 'pruned', 'quantized', 'distilled']);
      for (const v of Object.values(report.variants)) {
        assert.ok(v.accuracy > 0.8 && v.accuracy < 1, `accuracy ${v.accuracy}`);
        assert.ok(v.ci95[0] < v.accuracy && v.accuracy < v.ci95[1]);
      }
      // The distilled student is the one variant several points behind full: 1,500 rows resolve that.
      assert.ok(report.paired_vs_reference.distilled!.difference_points < -1);
      assert.ok(report.reference_significantly_better_than.includes('distilled'));
      const d = report.paired_vs_reference.pruned!;
      assert.equal(Math.round(d.difference_points * 1500) / 100, d.only_variant_right - d.only_reference_right);
    });

    it('takes the classes from the models: a file without any row of the last class still scores', async () => {
      const data = sessions32Dataset(400, SCORE_STREAM_SEED + 2000);
      const lines = ['label,' + Array.from({ length: SESSIONS32_DIM }, (_, i) => `x${i}`).join(',')];
      for (let r = 0; r < 400; r++) if (data.labels[r] === 0) lines.push(`0,${Array.from(data.features.subarray(r * SESSIONS32_DIM, (r + 1) * SESSIONS32_DIM)).join(',')}`);
      const file = join(dir, 'only-zeros.csv');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const report = await scoreCascade(args(['--models', 'models/sessions-32', '--data', file]), quiet);
      assert.equal(report.rows, lines.length - 1);
    });

    it('names the mismatch when the data does not fit the models, before scoring any', async () => {
      const narrow = join(dir, 'narrow.csv');
      writeFileSync(narrow, 'a,b,label\n1,2,0\n3,4,1\n');
      await assert.rejects(scoreCascade(args(['--models', 'models/sessions-32', '--data', narrow]), quiet), /the models take 32 features per row, \S*narrow\.csv has 2/);
      const wide = join(dir, 'three-classes.jsonl');
      writeFileSync(wide, `${JSON.stringify({ features: new Array(32).fill(0), label: 2 })}\n`);
      await assert.rejects(scoreCascade(args(['--models', 'models/sessions-32', '--data', wide]), quiet), /label 2 is out of range for 2 classes/);
      await assert.rejects(scoreCascade(args(['--models', dir, '--data', narrow]), quiet), /full does not exist: --models must hold full\/, pruned\/, quantized\/ and distilled\//);
    });

    it('refuses four folders that are not variants of one model, naming the odd one', async () => {
      const mixed = join(dir, 'mixed');
      for (const role of ['full', 'pruned', 'quantized'] as const) cpSync(join('models/sessions-32', role), join(mixed, role), { recursive: true });
      cpSync('models/digits/distilled', join(mixed, 'distilled'), { recursive: true });
      await assert.rejects(scoreCascade(args(['--workload', 'sessions-32', '--rows', '1000', '--models', mixed]), quiet), /distilled takes 784 features into 10 classes, full 32 into 2: not variants of one model/);
    });
  });
});
