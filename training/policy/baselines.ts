// The policies the learned one is compared with, as router policy specs, plus the two that need
// the trace: the oracle (per request the cheapest variant that answers it correctly; it sees the
// label, so it is an upper bound, not a policy) and the confidence threshold of the FrugalGPT-style
// cascade (the lowest threshold meeting the accuracy target on the training trace).
import { ROLES, type PolicySpec, type Role } from '../../crds/types.js';
import { isCorrect, type TraceRows } from './trace.js';

/** Roles by ascending CPU cost. */
export function byCost(costs: Record<Role, number>): Role[] {
  return [...ROLES].sort((a, b) => costs[a] - costs[b]);
}

/** Cheapest role that answers `row` correctly; the cheapest of all when none does (all are wrong anyway). */
export function oracleRole(trace: TraceRows, row: number, costs: Record<Role, number>): Role {
  const order = byCost(costs);
  return order.find((role) => isCorrect(trace, role, row)) ?? order[0]!;
}

/** The role a confidence cascade ends on for one row: escalate while the answer's confidence is below `threshold`. */
export function cascadeOutcome(trace: TraceRows, row: number, chain: readonly Role[], threshold: number): Role {
  // float32, as the router compares.
  const bar = Math.fround(threshold);
  for (const role of chain.slice(0, -1)) if (trace.answers[role].confidence[row]! >= bar) return role;
  return chain[chain.length - 1]!;
}

export function cascadeChain(costs: Record<Role, number>): Role[] {
  const order = byCost(costs);
  return [...order.slice(0, order.indexOf('full')), 'full'];
}

/** The lowest threshold on a 0.005 grid whose cascade accuracy on `rows` reaches `targetAccuracy` (0.999 if none does). */
export function tuneCascadeThreshold(trace: TraceRows, rows: readonly number[], costs: Record<Role, number>, targetAccuracy: number): { threshold: number; accuracy: number } {
  const chain = cascadeChain(costs);
  for (let milli = 500; milli <= 999; milli += 5) {
    const t = milli / 1000;
    let correct = 0;
    for (const row of rows) if (isCorrect(trace, cascadeOutcome(trace, row, chain, t), row)) correct++;
    const accuracy = correct / rows.length;
    if (accuracy >= targetAccuracy) return { threshold: t, accuracy };
  }
  return { threshold: 0.999, accuracy: NaN };
}

export interface EvaluatedPolicy {
  name: string;
  spec: PolicySpec;
  /** Pinned per request (the oracle). */
  oracle?: boolean;
  kind: 'baseline' | 'oracle' | 'learned' | 'ablation';
}

export function baselinePolicies(cascadeThreshold: number): EvaluatedPolicy[] {
  return [
    { name: 'static-full', spec: { type: 'static', staticRole: 'full' }, kind: 'baseline' },
    { name: 'static-quantized', spec: { type: 'static', staticRole: 'quantized' }, kind: 'baseline' },
    // Every variant alone: a learned policy that only ever picks one of them must be seen to tie it.
    { name: 'static-pruned', spec: { type: 'static', staticRole: 'pruned' }, kind: 'baseline' },
    { name: 'static-distilled', spec: { type: 'static', staticRole: 'distilled' }, kind: 'baseline' },
    { name: 'random', spec: { type: 'random' }, kind: 'baseline' },
    { name: 'round-robin', spec: { type: 'round-robin' }, kind: 'baseline' },
    { name: 'threshold-cascade', spec: { type: 'threshold-cascade', confidenceThreshold: cascadeThreshold }, kind: 'baseline' },
    { name: 'heuristic', spec: { type: 'heuristic' }, kind: 'baseline' },
    // Pinned per request; the spec only decides what an unpinned request would get.
    { name: 'oracle', spec: { type: 'heuristic' }, oracle: true, kind: 'oracle' },
  ];
}
