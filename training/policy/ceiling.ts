// How accurate can choosing one variant per request be, for a router that does not see the label?
// A router beats every static route at equal latency only if it is more accurate than the best of
// them somewhere; when the variants are compressions of one model their mistakes mostly coincide,
// and no choice made from the request alone gets past the best variant. Measured on a trace with
// the trained difficulty estimator's picks (each request to the variant it rates most likely right,
// whatever the cost), beside a majority vote of all four answers (which needs every variant run on
// every request, so no router that picks one gets it) and the oracle (which sees the label).
import { ROLES, type Role } from '../../crds/types.js';
import { accuracyOf, isCorrect, rowsOf, type TraceRows } from './trace.js';

export interface SelectionCeiling {
  rows: number;
  /** Accuracy of each static route on the trace. */
  variants: Record<Role, number>;
  best_variant: { role: Role; accuracy: number };
  /** Each request to the variant the estimator rates most likely to be right (first in ROLES on a tie). */
  estimator_choice: { accuracy: number; shares: Record<Role, number> };
  /** The class most of the four variants answer, full's answer on a tie. */
  majority_vote: number;
  /** Some variant is right. */
  oracle: number;
}

/** `predicted` holds the estimator's probability of being right, ROLES.length values per row. */
export function selectionCeiling(trace: TraceRows, predicted: ArrayLike<number>): SelectionCeiling {
  const n = rowsOf(trace);
  if (predicted.length !== n * ROLES.length) {
    throw new RangeError(`predicted must hold ${ROLES.length} probabilities per row (${n * ROLES.length}), got ${predicted.length}`);
  }
  const chosen = Object.fromEntries(ROLES.map((role) => [role, 0])) as Record<Role, number>;
  let choiceRight = 0;
  let voteRight = 0;
  let oracleRight = 0;
  for (let i = 0; i < n; i++) {
    let pick = 0;
    for (let k = 1; k < ROLES.length; k++) if (predicted[i * ROLES.length + k]! > predicted[i * ROLES.length + pick]!) pick = k;
    const role = ROLES[pick]!;
    chosen[role] += 1;
    if (isCorrect(trace, role, i)) choiceRight += 1;
    const votes = new Map<number, number>();
    let any = false;
    for (const r of ROLES) {
      const answer = trace.answers[r].predictions[i]!;
      votes.set(answer, (votes.get(answer) ?? 0) + 1);
      if (isCorrect(trace, r, i)) any = true;
    }
    if (any) oracleRight += 1;
    const most = Math.max(...votes.values());
    const leaders = [...votes].filter(([, count]) => count === most).map(([answer]) => answer);
    const vote = leaders.length === 1 ? leaders[0]! : trace.answers.full.predictions[i]!;
    if (vote === trace.labels[i]) voteRight += 1;
  }
  const share = (count: number) => count / Math.max(1, n);
  const variants = Object.fromEntries(ROLES.map((role) => [role, accuracyOf(trace, role)])) as Record<Role, number>;
  const best = ROLES.reduce((a, b) => (variants[b] > variants[a] ? b : a));
  return {
    rows: n,
    variants,
    best_variant: { role: best, accuracy: variants[best] },
    estimator_choice: { accuracy: share(choiceRight), shares: Object.fromEntries(ROLES.map((role) => [role, share(chosen[role])])) as Record<Role, number> },
    majority_vote: share(voteRight),
    oracle: share(oracleRight),
  };
}
