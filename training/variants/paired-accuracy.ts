/**
 * Accuracy of each variant on the same labelled rows, and each one's difference to a reference
 * variant (full) as a paired comparison: only the rows where exactly one of the two is right
 * carry information, so two variants that share most of their mistakes can be told apart with
 * far fewer rows than two independent accuracies would need.
 */
import { wilsonInterval } from '../../common/wilson.js';
import { mcnemarFromCounts, regularizedIncompleteBeta } from '../policy/stats.js';

export interface VariantAccuracy {
  correct: number;
  accuracy: number;
  /** Wilson score interval, 95%. */
  ci95: [number, number];
}

export interface PairedDifference {
  /** Rows the reference answered right and this variant wrong. */
  only_reference_right: number;
  /** Rows this variant answered right and the reference wrong. */
  only_variant_right: number;
  /** Variant accuracy minus the reference's, in points (negative: the variant is less accurate). */
  difference_points: number;
  /**
   * 95% interval of that difference: exact (Clopper-Pearson) for the share of the discordant rows
   * the variant wins, given their number, scaled to points. Consistent with the exact McNemar
   * test, and honest when only a handful of rows disagree.
   */
  ci95_points: [number, number];
  /** McNemar's test, two-sided (exact up to 25 discordant rows, chi-square beyond). */
  mcnemar_p: number;
}

export interface PairedAccuracyReport {
  rows: number;
  reference: string;
  variants: Record<string, VariantAccuracy>;
  paired_vs_reference: Record<string, PairedDifference>;
  /** The reference's accuracy is at least every other variant's on these rows (point estimates: one row decides). */
  reference_most_accurate: boolean;
  /** Variants whose interval lies wholly below the reference: the reference is more accurate beyond these rows' noise. */
  reference_significantly_better_than: string[];
  /** Variants whose interval lies wholly above the reference. */
  significantly_better_than_reference: string[];
}

/** Exact two-sided 95% interval of a binomial proportion, `successes` of `trials` (Clopper-Pearson). */
export function clopperPearson(successes: number, trials: number): [number, number] {
  if (trials === 0) return [0, 1];
  const tail = (1 - 0.95) / 2;
  // P(X >= k | p) = I_p(k, n - k + 1) rises with p; P(X <= k | p) = 1 - I_p(k + 1, n - k) falls.
  const solve = (f: (p: number) => number, rising: boolean): number => {
    let low = 0;
    let high = 1;
    for (let i = 0; i < 100; i++) {
      const mid = (low + high) / 2;
      if ((f(mid) < tail) === rising) low = mid;
      else high = mid;
    }
    return (low + high) / 2;
  };
  const lower = successes === 0 ? 0 : solve((p) => regularizedIncompleteBeta(p, successes, trials - successes + 1), true);
  const upper = successes === trials ? 1 : solve((p) => 1 - regularizedIncompleteBeta(p, successes + 1, trials - successes), false);
  return [lower, upper];
}

/** `correct[role][i]` is 1 when `role` answered row i right, else 0; every vector the same length. */
export function pairedAccuracy(correct: Record<string, Uint8Array>, reference: string): PairedAccuracyReport {
  const roles = Object.keys(correct);
  const ref = correct[reference];
  if (!ref) throw new RangeError(`reference "${reference}" is not among the scored variants (${roles.join(', ')})`);
  const rows = ref.length;
  if (rows === 0) throw new RangeError('no rows were scored');
  for (const role of roles) {
    if (correct[role]!.length !== rows) throw new RangeError(`correct.${role} has ${correct[role]!.length} rows, ${reference} has ${rows}`);
  }
  const variants: Record<string, VariantAccuracy> = {};
  for (const role of roles) {
    const hits = correct[role]!.reduce((sum, value) => sum + value, 0);
    variants[role] = { correct: hits, accuracy: hits / rows, ci95: wilsonInterval(hits, rows) };
  }
  const paired: Record<string, PairedDifference> = {};
  for (const role of roles.filter((r) => r !== reference)) {
    const other = correct[role]!;
    let onlyReference = 0;
    let onlyVariant = 0;
    for (let i = 0; i < rows; i++) {
      if (ref[i] && !other[i]) onlyReference += 1;
      else if (!ref[i] && other[i]) onlyVariant += 1;
    }
    // difference = (c - b) / n = (b + c) / n * (2 * share - 1), share = c / (b + c) the variant's part of the discordant rows
    const discordant = onlyReference + onlyVariant;
    const [shareLow, shareHigh] = clopperPearson(onlyVariant, discordant);
    const points = (share: number) => ((discordant / rows) * (2 * share - 1) * 100);
    paired[role] = {
      only_reference_right: onlyReference,
      only_variant_right: onlyVariant,
      difference_points: ((onlyVariant - onlyReference) / rows) * 100,
      ci95_points: discordant === 0 ? [0, 0] : [points(shareLow), points(shareHigh)],
      mcnemar_p: mcnemarFromCounts(onlyReference, onlyVariant).pValue,
    };
  }
  return {
    rows,
    reference,
    variants,
    paired_vs_reference: paired,
    reference_most_accurate: Object.values(paired).every((d) => d.difference_points <= 0),
    reference_significantly_better_than: Object.entries(paired).filter(([, d]) => d.ci95_points[1] < 0).map(([role]) => role),
    significantly_better_than_reference: Object.entries(paired).filter(([, d]) => d.ci95_points[0] > 0).map(([role]) => role),
  };
}
