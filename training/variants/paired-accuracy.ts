/**
 * Accuracy of each variant on the same labelled rows, and each one's difference to a reference
 * variant (full) as a paired comparison: only the rows where exactly one of the two is right
 * carry information, so two variants that share most of their mistakes can be told apart with
 * far fewer rows than two independent accuracies would need.
 */
import { mcnemarFromCounts } from '../policy/stats.js';

const Z95 = 1.959964;

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
  /** 95% interval of that difference (normal approximation of the paired difference). */
  ci95_points: [number, number];
  /** McNemar's test, two-sided: how often a difference this large arises when neither is better. */
  mcnemar_p: number;
}

export interface PairedAccuracyReport {
  rows: number;
  reference: string;
  variants: Record<string, VariantAccuracy>;
  paired_vs_reference: Record<string, PairedDifference>;
  /** The reference's accuracy is at least every other variant's on these rows. */
  reference_most_accurate: boolean;
  /** Variants the reference beats at p < 0.05; the others are within what these rows can resolve. */
  reference_significantly_better_than: string[];
}

export function wilsonInterval(correct: number, rows: number): [number, number] {
  const p = correct / rows;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * rows)) / (1 + z2 / rows);
  const half = (Z95 / (1 + z2 / rows)) * Math.sqrt((p * (1 - p)) / rows + z2 / (4 * rows * rows));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
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
    const difference = (onlyVariant - onlyReference) / rows;
    const variance = (onlyVariant + onlyReference - (onlyVariant - onlyReference) ** 2 / rows) / (rows * rows);
    const half = Z95 * Math.sqrt(Math.max(0, variance));
    paired[role] = {
      only_reference_right: onlyReference,
      only_variant_right: onlyVariant,
      difference_points: difference * 100,
      ci95_points: [(difference - half) * 100, (difference + half) * 100],
      mcnemar_p: mcnemarFromCounts(onlyReference, onlyVariant).pValue,
    };
  }
  return {
    rows,
    reference,
    variants,
    paired_vs_reference: paired,
    reference_most_accurate: Object.values(paired).every((d) => d.difference_points <= 0),
    reference_significantly_better_than: Object.entries(paired)
      .filter(([, d]) => d.difference_points < 0 && d.mcnemar_p < 0.05)
      .map(([role]) => role),
  };
}
