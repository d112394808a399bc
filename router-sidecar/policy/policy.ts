// The one interface every routing policy implements, learned or not, so the server calls them the
// same way: `await policy.decide(input)` (the heuristic and static policies answer synchronously,
// and awaiting a plain value costs one microtask).
import type { PolicyType, Role, SlaSpec } from '../../crds/types.js';
import type { LoadSnapshot } from '../load/load-tracker.js';

/** Per-request hints; each SLA hint present replaces the cascade's value for that request. */
export interface RequestHints {
  latencyBudgetMs?: number;
  minAccuracy?: number;
  /** Serve with this role (x-cascade-variant): the router skips the policy. */
  variant?: Role;
}

export interface PolicyInput {
  /** Estimated difficulty of this input: 0 easy .. 1 hard. */
  difficulty: number;
  /** Estimated probability that each role answers this input correctly (ROLES order), when a trained estimator is loaded. */
  correctness?: readonly number[];
  load: LoadSnapshot;
  sla: SlaSpec;
  hints?: RequestHints;
  /** Roles that may serve now (e.g. breaker not open); all when omitted. */
  allowed?: ReadonlySet<Role>;
}

export type DecisionReason =
  | 'cheapest-within-sla'
  | 'most-accurate-within-latency'
  | 'least-loaded'
  | 'static'
  | 'learned'
  | 'random'
  | 'round-robin'
  | 'threshold-cascade'
  /** Not a policy's: the request named its variant (x-cascade-variant). */
  | 'pinned';

/** Escalate while unsure: ask the next role of `chain` while the answer's top-class probability is below `belowConfidence`. */
export interface Escalation {
  /** Roles in escalation order, the decision's role first. */
  chain: readonly Role[];
  belowConfidence: number;
}

export interface PolicyDecision {
  role: Role;
  /** Fallback order for forwarding, `role` first. */
  ranked: readonly Role[];
  /** A short fixed code, usable as a metric label. */
  reason: DecisionReason;
  /** Present for cascading policies: the router asks further roles while the answer is unsure. */
  escalation?: Escalation;
}

export interface Policy {
  readonly type: PolicyType;
  decide(input: PolicyInput): PolicyDecision | Promise<PolicyDecision>;
}

export interface EffectiveSla {
  latencyBudgetMs: number;
  minAccuracy: number;
}

/** The request's hints where valid, the cascade's SLA otherwise. */
export function effectiveSla(sla: SlaSpec, hints: RequestHints | undefined): EffectiveSla {
  const budget = hints?.latencyBudgetMs;
  const accuracy = hints?.minAccuracy;
  return {
    latencyBudgetMs: budget !== undefined && Number.isFinite(budget) && budget > 0 ? budget : sla.p99LatencyMs,
    minAccuracy: accuracy !== undefined && accuracy > 0 && accuracy <= 1 ? accuracy : sla.minAccuracy,
  };
}
