import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessions32Dataset, SESSIONS32_DIM } from '../../training/data/sessions32.js';
import { pairedAccuracy, wilsonInterval } from '../../training/variants/paired-accuracy.js';
import { parseScoreArgs, SCORE_STREAM_SEED, scoreCascade } from '../../training/variants/score.js';

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
    // var = (b + c - (b - c)^2 / n) / n^2 = (500 - 1) / 1e8; half width 1.96 * 0.002234 = 0.438 points
    assert.ok(Math.abs(d.ci95_points[0] - -1.4378) < 1e-3 && Math.abs(d.ci95_points[1] - -0.5622) < 1e-3, JSON.stringify(d.ci95_points));
    assert.ok(d.mcnemar_p < 1e-5);
    assert.equal(report.reference_most_accurate, true);
    assert.deepEqual(report.reference_significantly_better_than, ['quantized']);
  });

  it('a tie within noise is neither a lead nor significant; a variant ahead makes full not the most accurate', () => {
    const { a: full, b: tied } = pairs(21, 20, 900, 59);
    const ahead = full.slice();
    ahead[ahead.length - 1] = 1; // one more row right than full, and none less
    const report = pairedAccuracy({ full, tied, ahead }, 'full');
    assert.ok(report.paired_vs_reference.tied!.mcnemar_p > 0.5);
    assert.ok(report.paired_vs_reference.tied!.ci95_points[0] < 0 && report.paired_vs_reference.tied!.ci95_points[1] > 0);
    assert.deepEqual(report.reference_significantly_better_than, []);
    assert.equal(report.reference_most_accurate, false);
    assert.equal(pairedAccuracy({ full, tied }, 'full').reference_most_accurate, true);
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
  it('arguments: defaults, and each bad combination named', () => {
    const s32 = parseScoreArgs(['--workload', 'sessions-32']);
    assert.deepEqual(s32.data, { kind: 'sessions-32', rows: 1_000_000 });
    assert.match(s32.modelsDir, /models\/sessions-32$/);
    assert.deepEqual(parseScoreArgs(['--workload', 'digits']).data, { kind: 'digits' });
    assert.deepEqual(parseScoreArgs(['--models', 'm', '--data', '/tmp/mine.csv', '--label-column', 'y']).data, { kind: 'file', file: '/tmp/mine.csv', labelColumn: 'y' });
    assert.equal(parseScoreArgs(['--models', 'm', '--data', '/tmp/mine.csv']).name, 'mine');
    assert.throws(() => parseScoreArgs(['--workload', 'imagenet']), /--workload "imagenet" is unknown: one of sessions-32, digits/);
    assert.throws(() => parseScoreArgs(['--workload', 'sessions-32', '--rows', '10']), /--rows must be an integer >= 1000, got "10"/);
    assert.throws(() => parseScoreArgs(['--workload', 'digits', '--rows', '5000']), /--rows applies to sessions-32 only/);
    assert.throws(() => parseScoreArgs(['--workload', 'digits', '--data', 'x.csv']), /--workload and --data are exclusive/);
    assert.throws(() => parseScoreArgs(['--data', 'x.csv']), /missing arguments/);
    assert.throws(() => parseScoreArgs(['--workload', 'digits', '--seed', '1']), /Unknown option '--seed'/);
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
      const report = await scoreCascade(parseScoreArgs(['--models', 'models/sessions-32', '--data', file]), quiet);
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

    it('names the mismatch when the data does not fit the models', async () => {
      const file = join(dir, 'narrow.csv');
      writeFileSync(file, 'a,b,label\n1,2,0\n3,4,1\n');
      await assert.rejects(scoreCascade(parseScoreArgs(['--models', 'models/sessions-32', '--data', file]), quiet), /full: the model takes 32 features per row, the data has 2/);
      await assert.rejects(scoreCascade(parseScoreArgs(['--models', dir, '--data', file]), quiet), /full does not exist: --models must hold full\/, pruned\/, quantized\/ and distilled\//);
    });
  });
});
