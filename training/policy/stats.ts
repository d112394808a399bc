/**
 * Statistics for the routing-policy evaluation: bootstrap confidence intervals (single sample and
 * paired), the paired t test, the Wilcoxon signed-rank test and McNemar's test.
 *
 * Dependency-free and deterministic: every resampling procedure draws from `seededRandom`, so the same
 * inputs and seed always give the same interval. Distribution functions follow Numerical Recipes
 * (Lanczos log-gamma, continued fractions for the incomplete beta and gamma functions).
 *
 * Input validation throws a RangeError that names the offending argument: empty samples, samples of
 * different lengths where pairs are expected, and non-finite values (NaN, ±Infinity).
 */
import { nearestRank } from '../../common/stats.js';
import { seededRandom } from '../../common/random.js';

export interface ConfidenceInterval {
  /** The statistic on the original sample(s). */
  estimate: number;
  low: number;
  high: number;
}

export interface BootstrapOptions {
  /** Number of bootstrap resamples; default 2000. */
  resamples?: number;
  /** Two-sided coverage in (0, 1); default 0.95. */
  confidence?: number;
  /** Seed for `seededRandom`; default 1. The same seed always gives the same interval. */
  seed?: number;
}

export interface BootstrapCiOptions extends BootstrapOptions {
  /** Statistic of one sample; default `mean`. */
  statistic?: (sample: readonly number[]) => number;
}

export interface PairedTTestResult {
  /** Mean of a[i] - b[i]. */
  meanDifference: number;
  /** Standard error of the mean difference. */
  standardError: number;
  t: number;
  degreesOfFreedom: number;
  /** Two-sided. */
  pValue: number;
}

export type WilcoxonMethod = 'exact' | 'normal';

export interface WilcoxonOptions {
  /**
   * 'auto' (default): exact when at most 20 non-zero differences remain, normal approximation
   * otherwise. 'exact' enumerates the permutation distribution of the (mid)rank sums, O(n^3).
   */
  method?: 'auto' | WilcoxonMethod;
  /** Continuity correction of the normal approximation; default true (as R's wilcox.test). */
  continuityCorrection?: boolean;
}

export interface WilcoxonResult {
  /** min(W+, W-), the usual two-sided statistic. */
  statistic: number;
  /** Sum of the ranks of |a[i] - b[i]| over positive differences. */
  wPlus: number;
  /** Sum of the ranks over negative differences. */
  wMinus: number;
  /** Pairs with a non-zero difference (zero differences are discarded, Wilcoxon's convention). */
  n: number;
  /** Pairs discarded because a[i] === b[i]. */
  zeros: number;
  method: WilcoxonMethod;
  /** Two-sided. */
  pValue: number;
}

export interface McNemarResult {
  /** Requests a got right and b got wrong. */
  b: number;
  /** Requests a got wrong and b got right. */
  c: number;
  /** 'exact' (two-sided binomial) when b + c <= 25, else chi-square with continuity correction. */
  method: 'exact' | 'chi-square';
  /** Two-sided. */
  pValue: number;
}

// ---------------------------------------------------------------------------------------------
// Validation

function checkSample(name: string, values: readonly number[], minLength = 1): void {
  if (!Array.isArray(values)) throw new RangeError(`${name} must be an array of numbers`);
  if (values.length === 0) throw new RangeError(`${name} is empty`);
  if (values.length < minLength) {
    throw new RangeError(`${name} needs at least ${minLength} values, got ${values.length}`);
  }
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RangeError(`${name}[${i}] is ${String(value)}; values must be finite numbers`);
    }
  }
}

function checkSameLength(aName: string, a: readonly unknown[], bName: string, b: readonly unknown[]): void {
  if (a.length !== b.length) {
    throw new RangeError(`${aName} and ${bName} must have the same length, got ${a.length} and ${b.length}`);
  }
}

function checkPaired(a: readonly number[], b: readonly number[], minLength = 1): void {
  checkSample('a', a, minLength);
  checkSample('b', b, minLength);
  checkSameLength('a', a, 'b', b);
}

interface ResolvedBootstrapOptions {
  resamples: number;
  confidence: number;
  seed: number;
}

function resolveBootstrapOptions(options: BootstrapOptions): ResolvedBootstrapOptions {
  const { resamples = 2000, confidence = 0.95, seed = 1 } = options;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(`options.resamples must be a positive integer, got ${resamples}`);
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`options.confidence must be in (0, 1), got ${confidence}`);
  }
  if (!Number.isFinite(seed)) throw new RangeError(`options.seed must be a finite number, got ${seed}`);
  return { resamples, confidence, seed };
}

// ---------------------------------------------------------------------------------------------
// Descriptive statistics

/** Arithmetic mean; RangeError when empty or non-finite. */
export function mean(values: readonly number[]): number {
  checkSample('values', values);
  return meanUnchecked(values);
}

function meanUnchecked(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Sample standard deviation (n - 1 denominator); RangeError for fewer than 2 values. */
export function sampleStd(values: readonly number[]): number {
  checkSample('values', values, 2);
  return sampleStdUnchecked(values);
}

function sampleStdUnchecked(values: readonly number[]): number {
  const center = meanUnchecked(values);
  let squares = 0;
  for (const value of values) squares += (value - center) ** 2;
  return Math.sqrt(squares / (values.length - 1));
}

/**
 * A statistic computing the nearest-rank percentile (`fraction` in [0, 1], e.g. 0.99 for p99) of a
 * sample, for use with the bootstraps. Delegates to `nearestRank` in common/stats.ts.
 */
export function percentileStatistic(fraction: number): (sample: readonly number[]) => number {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`fraction must be in [0, 1], got ${fraction}`);
  return (sample) => nearestRank(Float64Array.from(sample).sort(), fraction);
}

// ---------------------------------------------------------------------------------------------
// Bootstrap

function percentileInterval(estimate: number, statistics: Float64Array, confidence: number): ConfidenceInterval {
  statistics.sort();
  const tail = (1 - confidence) / 2;
  return { estimate, low: nearestRank(statistics, tail), high: nearestRank(statistics, 1 - tail) };
}

function checkStatistic(value: number, what: string): number {
  if (Number.isNaN(value)) throw new RangeError(`options.statistic returned NaN for ${what}`);
  return value;
}

/**
 * Percentile bootstrap confidence interval of `statistic` (default: the mean) of `values`:
 * `resamples` resamples of size n drawn with replacement; `low`/`high` are the nearest-rank
 * (1 - confidence) / 2 and (1 + confidence) / 2 percentiles of the resampled statistics.
 */
export function bootstrapCi(values: readonly number[], options: BootstrapCiOptions = {}): ConfidenceInterval {
  checkSample('values', values);
  const { resamples, confidence, seed } = resolveBootstrapOptions(options);
  const statistic = options.statistic ?? meanUnchecked;
  const estimate = checkStatistic(statistic(values), 'the original sample');
  const random = seededRandom(seed);
  const n = values.length;
  const statistics = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const sample = new Array<number>(n);
    for (let i = 0; i < n; i++) sample[i] = values[random.int(n)]!;
    statistics[r] = checkStatistic(statistic(sample), 'a resample');
  }
  return percentileInterval(estimate, statistics, confidence);
}

/**
 * Paired percentile bootstrap: resamples indices jointly, so a[i] and b[i] (outcomes of two policies
 * on the same request) stay together. `statistic(aSample, bSample)` compares the two, e.g. a
 * difference of accuracies or a ratio of p99 latencies (see `percentileStatistic`).
 */
export function bootstrapCiPaired(
  a: readonly number[],
  b: readonly number[],
  statistic: (aSample: readonly number[], bSample: readonly number[]) => number,
  options: BootstrapOptions = {},
): ConfidenceInterval {
  checkPaired(a, b);
  if (typeof statistic !== 'function') throw new RangeError('statistic must be a function');
  const { resamples, confidence, seed } = resolveBootstrapOptions(options);
  const estimate = checkStatistic(statistic(a, b), 'the original samples');
  const random = seededRandom(seed);
  const n = a.length;
  const statistics = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const aSample = new Array<number>(n);
    const bSample = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const index = random.int(n);
      aSample[i] = a[index]!;
      bSample[i] = b[index]!;
    }
    statistics[r] = checkStatistic(statistic(aSample, bSample), 'a resample');
  }
  return percentileInterval(estimate, statistics, confidence);
}

/** Paired bootstrap CI of mean(a) - mean(b). */
export function bootstrapMeanDifferenceCi(a: readonly number[], b: readonly number[], options: BootstrapOptions = {}): ConfidenceInterval {
  return bootstrapCiPaired(a, b, (x, y) => meanUnchecked(x) - meanUnchecked(y), options);
}

/** Paired bootstrap CI of statistic(a) / statistic(b), e.g. `percentileStatistic(0.99)` for a p99 ratio. */
export function bootstrapRatioCi(
  a: readonly number[],
  b: readonly number[],
  statistic: (sample: readonly number[]) => number = meanUnchecked,
  options: BootstrapOptions = {},
): ConfidenceInterval {
  return bootstrapCiPaired(a, b, (x, y) => statistic(x) / statistic(y), options);
}

// ---------------------------------------------------------------------------------------------
// Special functions

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7, about 15 significant digits). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`x must be positive, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Stirling series remainder: ln Γ(z) - ((z - 1/2) ln z - z + ln(2π)/2), accurate to ~1e-20 for z >= 100. */
function stirlingCorrection(z: number): number {
  const z2 = z * z;
  return (1 / 12 - (1 / 360 - (1 / 1260 - 1 / (1680 * z2)) / z2) / z2) / z;
}

/**
 * ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b), without the cancellation of huge log-gammas when one
 * argument is large (e.g. the t distribution with many degrees of freedom).
 */
function logBeta(a: number, b: number): number {
  const big = Math.max(a, b);
  const small = Math.min(a, b);
  if (big < 100) return logGamma(a) + logGamma(b) - logGamma(a + b);
  // ln Γ(big + small) - ln Γ(big) by Stirling, arranged so no large terms cancel.
  const ratio = (big - 0.5) * Math.log1p(small / big) + small * Math.log(big + small) - small
    + stirlingCorrection(big + small) - stirlingCorrection(big);
  return logGamma(small) - ratio;
}

const EPS = 1e-15;
const FPMIN = 1e-300;

const notTiny = (value: number): number => (Math.abs(value) < FPMIN ? FPMIN : value);

/** Continued fraction for the incomplete beta function (Numerical Recipes betacf, modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const maxIterations = 1000 + Math.ceil(10 * Math.sqrt(Math.max(a, b)));
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 / notTiny(1 - (qab * x) / qap);
  let h = d;
  for (let m = 1; m <= maxIterations; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 / notTiny(1 + aa * d);
    c = notTiny(1 + aa / c);
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 / notTiny(1 + aa * d);
    c = notTiny(1 + aa / c);
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta continued fraction did not converge (a=${a}, b=${b}, x=${x})`);
}

/** I_x(a, b) given x and y = 1 - x separately (so callers can pass an accurately computed complement). */
function incompleteBeta(a: number, b: number, x: number, y: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const logX = x < 0.5 ? Math.log(x) : Math.log1p(-y);
  const logY = y < 0.5 ? Math.log(y) : Math.log1p(-x);
  const front = Math.exp(-logBeta(a, b) + a * logX + b * logY);
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, y)) / b;
}

/** Regularized incomplete beta function I_x(a, b), x in [0, 1], a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(x >= 0 && x <= 1)) throw new RangeError(`x must be in [0, 1], got ${x}`);
  if (!(a > 0)) throw new RangeError(`a must be positive, got ${a}`);
  if (!(b > 0)) throw new RangeError(`b must be positive, got ${b}`);
  return incompleteBeta(a, b, x, 1 - x);
}

/** Regularized upper incomplete gamma Q(a, x) (Numerical Recipes gser / gcf). */
function upperIncompleteGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const logFront = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    // Series for P(a, x).
    let ap = a;
    let term = 1 / a;
    let sum = term;
    for (let i = 0; i < 100_000; i++) {
      ap += 1;
      term *= x / ap;
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPS) return 1 - sum * Math.exp(logFront);
    }
    throw new Error(`incomplete gamma series did not converge (a=${a}, x=${x})`);
  }
  // Continued fraction for Q(a, x).
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = 1 / notTiny(an * d + b);
    c = notTiny(b + an / c);
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) return Math.exp(logFront) * h;
  }
  throw new Error(`incomplete gamma continued fraction did not converge (a=${a}, x=${x})`);
}

/** Two-sided tail of the standard normal, P(|Z| >= |z|) = erfc(|z| / sqrt 2). */
function normalTwoSided(z: number): number {
  return upperIncompleteGamma(0.5, (z * z) / 2);
}

/** Standard normal CDF. */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  const tail = normalTwoSided(z) / 2;
  return z < 0 ? tail : 1 - tail;
}

/** Survival function of chi-square with `df` degrees of freedom, P(X >= x). */
export function chiSquareSurvival(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`df must be positive, got ${df}`);
  return upperIncompleteGamma(df / 2, Math.max(0, x) / 2);
}

/** Two-sided Student t tail, P(|T| >= |t|) with `df` degrees of freedom. */
export function studentTTwoSided(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`df must be positive, got ${df}`);
  if (Number.isNaN(t)) return Number.NaN;
  if (!Number.isFinite(t)) return 0;
  const t2 = t * t;
  return incompleteBeta(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
}

/** Student t CDF, P(T <= t) with `df` degrees of freedom (df > 0, need not be an integer). */
export function studentTCdf(t: number, df: number): number {
  const tail = studentTTwoSided(t, df) / 2;
  return t < 0 ? tail : 1 - tail;
}

// ---------------------------------------------------------------------------------------------
// Tests

/**
 * Two-sided paired t test of the differences a[i] - b[i] (df = n - 1). When every difference is the
 * same (zero variance) t is ±Infinity with p = 0 if that difference is non-zero, and t = 0 with p = 1
 * if it is zero. RangeError for fewer than 2 pairs.
 */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTTestResult {
  checkPaired(a, b, 2);
  const differences = a.map((value, i) => value - b[i]!);
  const n = differences.length;
  const meanDifference = meanUnchecked(differences);
  const standardError = sampleStdUnchecked(differences) / Math.sqrt(n);
  const degreesOfFreedom = n - 1;
  if (standardError === 0) {
    return meanDifference === 0
      ? { meanDifference, standardError, t: 0, degreesOfFreedom, pValue: 1 }
      : { meanDifference, standardError, t: Math.sign(meanDifference) * Infinity, degreesOfFreedom, pValue: 0 };
  }
  const t = meanDifference / standardError;
  return { meanDifference, standardError, t, degreesOfFreedom, pValue: studentTTwoSided(t, degreesOfFreedom) };
}

/** Midranks (1-based, ties averaged) of `values`. */
function midranks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((i, j) => values[i]! - values[j]!);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && values[order[end]!] === values[order[start]!]) end++;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]!] = rank;
    start = end;
  }
  return ranks;
}

/**
 * Two-sided Wilcoxon signed-rank test of a[i] - b[i]. Zero differences are discarded; tied |differences|
 * get midranks. The exact p value enumerates all 2^n sign assignments of the observed (mid)ranks, so it
 * stays exact with ties; the normal approximation uses the tie-corrected variance and, by default, a
 * continuity correction (matching R's wilcox.test(..., paired = TRUE, exact = FALSE)).
 */
export function wilcoxonSignedRank(a: readonly number[], b: readonly number[], options: WilcoxonOptions = {}): WilcoxonResult {
  checkPaired(a, b);
  const requested = options.method ?? 'auto';
  if (requested !== 'auto' && requested !== 'exact' && requested !== 'normal') {
    throw new RangeError(`options.method must be 'auto', 'exact' or 'normal', got ${String(requested)}`);
  }
  const differences = a.map((value, i) => value - b[i]!).filter((d) => d !== 0);
  const zeros = a.length - differences.length;
  const n = differences.length;
  const ranks = midranks(differences.map(Math.abs));
  let wPlus = 0;
  for (let i = 0; i < n; i++) if (differences[i]! > 0) wPlus += ranks[i]!;
  const total = (n * (n + 1)) / 2;
  const wMinus = total - wPlus;
  const statistic = Math.min(wPlus, wMinus);
  const method: WilcoxonMethod = requested === 'auto' ? (n <= 20 ? 'exact' : 'normal') : requested;
  if (n === 0) return { statistic: 0, wPlus: 0, wMinus: 0, n, zeros, method, pValue: 1 };

  let pValue: number;
  if (method === 'exact') {
    // Doubled midranks are integers; P(S <= s) by dynamic programming over P(each sign) = 1/2.
    const doubled = ranks.map((rank) => Math.round(2 * rank));
    const maxSum = 2 * total;
    let distribution = new Float64Array(maxSum + 1);
    distribution[0] = 1;
    let reach = 0;
    for (const r of doubled) {
      const next = new Float64Array(maxSum + 1);
      for (let s = 0; s <= reach; s++) {
        const p = distribution[s]! / 2;
        if (p === 0) continue;
        next[s] = next[s]! + p;
        next[s + r] = next[s + r]! + p;
      }
      reach += r;
      distribution = next;
    }
    const threshold = Math.round(2 * statistic);
    let lower = 0;
    for (let s = 0; s <= threshold; s++) lower += distribution[s]!;
    pValue = Math.min(1, 2 * lower);
  } else {
    const tieGroups = new Map<number, number>();
    for (const d of differences) tieGroups.set(Math.abs(d), (tieGroups.get(Math.abs(d)) ?? 0) + 1);
    let tieTerm = 0;
    for (const t of tieGroups.values()) tieTerm += t * t * t - t;
    const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48;
    const deviation = Math.abs(wPlus - total / 2);
    const corrected = options.continuityCorrection === false ? deviation : Math.max(0, deviation - 0.5);
    pValue = variance > 0 ? Math.min(1, normalTwoSided(corrected / Math.sqrt(variance))) : 1;
  }
  return { statistic, wPlus, wMinus, n, zeros, method, pValue };
}

/** Binomial coefficient as a double (exact for the small n used here). */
function binomial(n: number, k: number): number {
  let result = 1;
  for (let i = 1; i <= k; i++) result = (result * (n - k + i)) / i;
  return result;
}

/**
 * McNemar's test comparing two classifiers' per-request correctness on the same requests. Only the
 * discordant pairs matter: b = a right & b wrong, c = a wrong & b right. Exact two-sided binomial
 * (p = 1/2) when b + c <= 25, chi-square (1 df) with continuity correction otherwise.
 */
export function mcnemar(aCorrect: readonly boolean[], bCorrect: readonly boolean[]): McNemarResult {
  for (const [name, values] of [['aCorrect', aCorrect], ['bCorrect', bCorrect]] as const) {
    if (!Array.isArray(values)) throw new RangeError(`${name} must be an array of booleans`);
    if (values.length === 0) throw new RangeError(`${name} is empty`);
    const bad = values.findIndex((value) => typeof value !== 'boolean');
    if (bad >= 0) throw new RangeError(`${name}[${bad}] is ${String(values[bad])}; values must be booleans`);
  }
  checkSameLength('aCorrect', aCorrect, 'bCorrect', bCorrect);
  let b = 0;
  let c = 0;
  for (let i = 0; i < aCorrect.length; i++) {
    if (aCorrect[i] && !bCorrect[i]) b++;
    else if (!aCorrect[i] && bCorrect[i]) c++;
  }
  return mcnemarFromCounts(b, c);
}

/** McNemar's test from the discordant counts alone (b: only a right, c: only b right). */
export function mcnemarFromCounts(b: number, c: number): McNemarResult {
  for (const [name, value] of [['b', b], ['c', c]] as const) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  const discordant = b + c;
  if (discordant <= 25) {
    let tail = 0;
    for (let k = 0; k <= Math.min(b, c); k++) tail += binomial(discordant, k);
    return { b, c, method: 'exact', pValue: Math.min(1, (2 * tail) / 2 ** discordant) };
  }
  const chiSquare = Math.max(0, Math.abs(b - c) - 1) ** 2 / discordant;
  return { b, c, method: 'chi-square', pValue: chiSquareSurvival(chiSquare, 1) };
}
