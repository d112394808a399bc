import assert from 'node:assert/strict';
import { seededRandom } from '../../common/random.js';
import {
  bootstrapCi, bootstrapCiPaired, bootstrapMeanDifferenceCi, bootstrapRatioCi, chiSquareSurvival, logGamma, mcnemar, mcnemarFromCounts, mean,
  normalCdf, pairedTTest, percentileStatistic, regularizedIncompleteBeta, sampleStd, studentTCdf, studentTTwoSided,
  wilcoxonSignedRank,
} from '../../training/policy/stats.js';

const close = (actual: number, expected: number, tolerance: number, what = ''): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} expected ${expected} ± ${tolerance}, got ${actual}`);

const normalSample = (n: number, mu: number, sigma: number, seed: number): number[] => {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => mu + sigma * random.gaussian());
};

/** Build per-request correctness with b (a right, b wrong), c (a wrong, b right) and `both` concordant pairs. */
const correctness = (b: number, c: number, both: number): [boolean[], boolean[]] => {
  const aCorrect: boolean[] = [];
  const bCorrect: boolean[] = [];
  const push = (x: boolean, y: boolean, count: number): void => {
    for (let i = 0; i < count; i++) {
      aCorrect.push(x);
      bCorrect.push(y);
    }
  };
  push(true, false, b);
  push(false, true, c);
  push(true, true, both);
  push(false, false, both);
  return [aCorrect, bCorrect];
};

// Student's sleep data (Cushny & Peebles 1905; R's `sleep`): extra hours of sleep under two drugs, same 10 patients.
const SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

describe('policy stats', () => {
  describe('descriptive', () => {
    it('mean and sample standard deviation (n - 1)', () => {
      assert.equal(mean([1, 2, 3, 4]), 2.5);
      close(sampleStd([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7), 1e-12);
      assert.throws(() => sampleStd([1]), (e: unknown) => e instanceof RangeError && /values/.test(e.message));
    });

    it('percentileStatistic reuses nearest rank', () => {
      const p99 = percentileStatistic(0.99);
      const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
      assert.equal(p99(values), 99);
      assert.equal(percentileStatistic(0.5)([3, 1, 2]), 2);
      assert.deepEqual(values[0], 100, 'input is not sorted in place');
    });
  });

  describe('distributions', () => {
    it('log-gamma matches factorials and Γ(1/2) = √π', () => {
      close(logGamma(10), Math.log(362880), 1e-12);
      close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-13);
      close(logGamma(0.25), Math.log(3.625609908221908), 1e-12);
    });

    it('incomplete beta: closed forms', () => {
      close(regularizedIncompleteBeta(0.3, 1, 1), 0.3, 1e-14); // uniform
      close(regularizedIncompleteBeta(0.3, 2, 1), 0.09, 1e-14); // x^a
      close(regularizedIncompleteBeta(0.3, 1, 3), 1 - 0.7 ** 3, 1e-14); // 1 - (1-x)^b
      close(regularizedIncompleteBeta(0.25, 0.5, 0.5), (2 / Math.PI) * Math.asin(0.5), 1e-13); // arcsine
      assert.equal(regularizedIncompleteBeta(0, 2, 3), 0);
      assert.equal(regularizedIncompleteBeta(1, 2, 3), 1);
    });

    it('t CDF: textbook critical values', () => {
      close(studentTTwoSided(2.228, 10), 0.05, 1e-4, 't=2.228 df=10');
      close(studentTTwoSided(2.2281388519649385, 10), 0.05, 1e-10, 't_0.975,10');
      close(studentTTwoSided(12.706204736174703, 1), 0.05, 1e-10, 't_0.975,1');
      close(studentTTwoSided(2.0638985616280205, 24), 0.05, 1e-10, 't_0.975,24');
      close(studentTCdf(3.169272672616, 10), 0.995, 1e-10, 't_0.995,10');
      close(studentTCdf(1.6448536269514722, 1e9), normalCdf(1.6448536269514722), 1e-8, 'large df -> normal');
    });

    it('t CDF: closed forms for df = 1 (Cauchy) and df = 2', () => {
      for (const t of [-30, -2.5, -0.3, 0, 0.7, 4, 100]) {
        close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-14, `df=1 t=${t}`);
        close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(t * t + 2)), 1e-14, `df=2 t=${t}`);
      }
      // Far tail is computed directly, not as 1 - (something close to 1).
      close(studentTTwoSided(1e4, 1) / (2 / (Math.PI * 1e4)), 1, 1e-6, 'Cauchy tail');
      assert.equal(studentTTwoSided(Infinity, 5), 0);
    });

    it('normal and chi-square', () => {
      close(normalCdf(1.959963984540054), 0.975, 1e-14);
      close(normalCdf(-1), 0.15865525393145707, 1e-14);
      close(chiSquareSurvival(3.841458820694124, 1), 0.05, 1e-12);
      close(chiSquareSurvival(5.991464547107979, 2), 0.05, 1e-12); // df=2: exp(-x/2)
    });
  });

  describe('pairedTTest', () => {
    it("Student's sleep data: t = -4.062, df = 9, p = 0.00283 (R: t.test(paired = TRUE))", () => {
      const result = pairedTTest(SLEEP_1, SLEEP_2);
      close(result.meanDifference, -1.58, 1e-12);
      close(result.t, -4.062128, 1e-6);
      assert.equal(result.degreesOfFreedom, 9);
      close(result.pValue, 0.002833, 1e-6);
      const swapped = pairedTTest(SLEEP_2, SLEEP_1);
      close(swapped.t, 4.062128, 1e-6);
      assert.equal(swapped.pValue, result.pValue);
    });

    it('zero variance: p = 0 for a constant non-zero shift, 1 for no difference', () => {
      const a = [1, 2, 3, 4];
      const shifted = pairedTTest(a.map((x) => x + 0.5), a);
      assert.equal(shifted.pValue, 0);
      assert.equal(shifted.t, Infinity);
      assert.equal(shifted.meanDifference, 0.5);
      const same = pairedTTest(a, a);
      assert.equal(same.pValue, 1);
      assert.equal(same.t, 0);
    });

    it('needs at least 2 pairs', () => {
      assert.throws(() => pairedTTest([1], [2]), (e: unknown) => e instanceof RangeError && /\ba\b.*at least 2/.test(e.message));
    });
  });

  describe('bootstrapCi', () => {
    const sigma = 2;
    const n = 2000;
    const values = normalSample(n, 5, sigma, 42);

    it('mean of a normal sample: covers the true mean, width ≈ 2·1.96·σ/√n', () => {
      const ci = bootstrapCi(values, { seed: 7 });
      assert.equal(ci.estimate, mean(values));
      assert.ok(ci.low < 5 && 5 < ci.high, `[${ci.low}, ${ci.high}] covers 5`);
      assert.ok(ci.low < ci.estimate && ci.estimate < ci.high);
      const expected = (2 * 1.96 * sigma) / Math.sqrt(n);
      const width = ci.high - ci.low;
      assert.ok(Math.abs(width / expected - 1) < 0.15, `width ${width} vs ${expected}`);
    });

    it('is deterministic for a seed and changes with the seed', () => {
      const options = { seed: 3, resamples: 500 };
      assert.deepEqual(bootstrapCi(values, options), bootstrapCi(values, options));
      assert.notDeepEqual(bootstrapCi(values, options), bootstrapCi(values, { ...options, seed: 4 }));
    });

    it('custom statistic and confidence', () => {
      const std = bootstrapCi(values, { statistic: sampleStd, resamples: 500 });
      assert.ok(std.low < sigma && sigma < std.high, `[${std.low}, ${std.high}] covers σ`);
      const narrow = bootstrapCi(values, { confidence: 0.5, resamples: 500 });
      const wide = bootstrapCi(values, { confidence: 0.99, resamples: 500 });
      assert.ok(wide.high - wide.low > narrow.high - narrow.low);
    });

    it('a constant sample gives a degenerate interval', () => {
      assert.deepEqual(bootstrapCi([3, 3, 3]), { estimate: 3, low: 3, high: 3 });
    });
  });

  describe('paired bootstrap', () => {
    const a = normalSample(500, 10, 3, 11);

    it('a known constant shift gives an interval around the shift', () => {
      const exact = bootstrapMeanDifferenceCi(a.map((x) => x + 1.5), a);
      close(exact.estimate, 1.5, 1e-12);
      close(exact.low, 1.5, 1e-12);
      close(exact.high, 1.5, 1e-12);

      // Shift plus per-request noise: the pairing removes the between-request spread (σ = 3).
      const noise = normalSample(a.length, 0, 0.2, 12);
      const noisy = bootstrapCiPaired(a.map((x, i) => x + 1.5 + noise[i]!), a, (x, y) => mean(x) - mean(y), { seed: 5 });
      assert.ok(noisy.low < 1.5 && 1.5 < noisy.high, `[${noisy.low}, ${noisy.high}] covers 1.5`);
      assert.ok(noisy.high - noisy.low < 0.1, 'paired width reflects only the noise');
    });

    it('resamples indices jointly (p99 ratio of b = 2a is exactly 2)', () => {
      const latency = a.map((x) => Math.abs(x));
      const ci = bootstrapRatioCi(latency.map((x) => 2 * x), latency, percentileStatistic(0.99));
      assert.deepEqual(ci, { estimate: 2, low: 2, high: 2 });
    });

    it('accuracy difference of two policies on the same requests', () => {
      const random = seededRandom(99);
      const better = Array.from({ length: 1000 }, () => (random.next() < 0.9 ? 1 : 0));
      const worse = better.map((x) => (x === 1 && random.next() < 0.05 ? 0 : x)); // loses ~4.5 points
      const ci = bootstrapMeanDifferenceCi(better, worse, { seed: 1 });
      assert.ok(ci.low > 0 && ci.low < ci.estimate && ci.estimate < ci.high, JSON.stringify(ci));
      assert.deepEqual(ci, bootstrapMeanDifferenceCi(better, worse, { seed: 1 }));
    });
  });

  describe('wilcoxonSignedRank', () => {
    it('all-positive differences, n = 10: exact p = 2/1024', () => {
      const a = [1.1, 2.3, 0.4, 5, 3.2, 0.9, 7, 2.8, 4.4, 6.1];
      const result = wilcoxonSignedRank(a, a.map(() => 0));
      assert.equal(result.method, 'exact');
      assert.equal(result.pValue, 2 / 1024);
      assert.equal(result.wPlus, 55);
      assert.equal(result.statistic, 0);
      // Normal approximation with continuity correction (R: exact = FALSE) gives 0.005922.
      const approx = wilcoxonSignedRank(a, a.map(() => 0), { method: 'normal' });
      close(approx.pValue, 0.005922, 1e-6);
    });

    it("Student's sleep data, normal approximation with zero and tie: V = 0, p = 0.009091 (R)", () => {
      const result = wilcoxonSignedRank(SLEEP_1, SLEEP_2, { method: 'normal' });
      assert.equal(result.zeros, 1);
      assert.equal(result.n, 9);
      assert.equal(result.wPlus, 0);
      close(result.pValue, 0.009091, 1e-6);
      // Exact conditional distribution: all 9 signs negative, 2/512.
      assert.equal(wilcoxonSignedRank(SLEEP_1, SLEEP_2).pValue, 2 / 512);
    });

    it('exact p with tied ranks agrees with brute-force enumeration of signs', () => {
      const d = [1, -2, 2, 3, -3, 3, 4, 5, -1, 6];
      const result = wilcoxonSignedRank(d, d.map(() => 0));
      const ranks = [1.5, 3.5, 3.5, 6, 6, 6, 8, 9, 1.5, 10];
      const observed = result.statistic;
      let extreme = 0;
      for (let mask = 0; mask < 1 << d.length; mask++) {
        let w = 0;
        ranks.forEach((r, i) => {
          if (mask & (1 << i)) w += r;
        });
        if (w <= observed + 1e-9) extreme++;
      }
      close(result.pValue, Math.min(1, (2 * extreme) / 1024), 1e-15);
    });

    it('no differences at all gives p = 1; large n uses the normal approximation', () => {
      assert.equal(wilcoxonSignedRank([1, 2], [1, 2]).pValue, 1);
      const x = normalSample(200, 0, 1, 1);
      const y = normalSample(200, 0, 1, 2);
      const result = wilcoxonSignedRank(x, y);
      assert.equal(result.method, 'normal');
      assert.ok(result.pValue > 0.01 && result.pValue <= 1);
      assert.ok(wilcoxonSignedRank(x, y.map((v) => v - 1)).pValue < 1e-10);
    });
  });

  describe('mcnemar', () => {
    it('b = 10, c = 2: exact two-sided p = 158/4096 ≈ 0.0386', () => {
      const result = mcnemar(...correctness(10, 2, 40));
      assert.deepEqual({ b: result.b, c: result.c, method: result.method }, { b: 10, c: 2, method: 'exact' });
      assert.equal(result.pValue, 158 / 4096);
      close(result.pValue, 0.0386, 1e-4);
    });

    it('b + c > 25: chi-square with continuity correction (R mcnemar.test: 6.881, p = 0.008712)', () => {
      const result = mcnemar(...correctness(30, 12, 5));
      assert.equal(result.method, 'chi-square');
      close(result.pValue, 0.008712, 1e-6);
    });

    it('from counts alone: the same test, and counts must be non-negative integers', () => {
      assert.deepEqual(mcnemarFromCounts(10, 2), { b: 10, c: 2, method: 'exact', pValue: 158 / 4096 });
      close(mcnemarFromCounts(30, 12).pValue, 0.008712, 1e-6);
      assert.throws(() => mcnemarFromCounts(-1, 2), /^RangeError: b must be a non-negative integer, got -1/);
      assert.throws(() => mcnemarFromCounts(1, 0.5), /^RangeError: c must be a non-negative integer, got 0.5/);
    });

    it('symmetric or no discordant pairs give p = 1', () => {
      assert.equal(mcnemar(...correctness(5, 5, 3)).pValue, 1);
      assert.equal(mcnemar(...correctness(0, 0, 3)).pValue, 1);
      assert.equal(mcnemar(...correctness(20, 20, 3)).pValue, 1);
    });
  });

  describe('input validation names the argument', () => {
    const rangeError = (pattern: RegExp) => (e: unknown) => e instanceof RangeError && pattern.test(e.message);

    it('empty, NaN and mismatched lengths', () => {
      assert.throws(() => mean([]), rangeError(/^values is empty/));
      assert.throws(() => bootstrapCi([1, Number.NaN]), rangeError(/^values\[1\] is NaN/));
      assert.throws(() => pairedTTest([1, 2], [1, 2, 3]), rangeError(/^a and b must have the same length, got 2 and 3/));
      assert.throws(() => pairedTTest([1, 2], [Number.NaN, 2]), rangeError(/^b\[0\] is NaN/));
      assert.throws(() => wilcoxonSignedRank([], [1]), rangeError(/^a is empty/));
      assert.throws(() => bootstrapCiPaired([1, 2], [1], (x, y) => x.length - y.length), rangeError(/^a and b/));
      assert.throws(() => mcnemar([true], []), rangeError(/^bCorrect is empty/));
      assert.throws(() => mcnemar([true, false], [true]), rangeError(/^aCorrect and bCorrect must have the same length/));
    });

    it('options', () => {
      assert.throws(() => bootstrapCi([1, 2], { confidence: 1 }), rangeError(/^options\.confidence/));
      assert.throws(() => bootstrapCi([1, 2], { resamples: 0 }), rangeError(/^options\.resamples/));
      assert.throws(() => bootstrapCi([1, 2], { statistic: () => Number.NaN }), rangeError(/options\.statistic returned NaN/));
      assert.throws(() => percentileStatistic(1.5), rangeError(/^fraction/));
    });
  });
});
