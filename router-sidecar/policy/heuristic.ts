// Expected-utility routing with SLA constraints, from the variant profiles and current load.
//
// Accuracy model. A card's accuracy is the average over its held-out set, taken to have average
// difficulty 0.5. Errors are assumed to grow linearly with difficulty, so a variant's error rate
// at difficulty d is (1 - card accuracy) × 2d: no errors on the easiest inputs, twice its average
// error rate on the hardest. Weaker variants lose more on hard inputs because they start from a
// larger error rate. (`hardErrorMultiplier` replaces the 2.)
//
// Latency model. Expected p99 = the variant's p99 estimate (EWMA from live traffic, the card's p99
// before any) × (1 + queued / concurrency), where queued = max(requests this router has in flight,
// the variant's scraped queue depth): the two overlap, so they are not added.
//
// Choice, in tiers (a role's tier decides its place in the fallback order):
//   0. within the latency budget and at or above the accuracy floor: cheapest first
//   1. within the latency budget only: most accurate first
//   2. the rest: lowest expected latency first (the least loaded)
// Roles not in `allowed` are left out (all roles if that leaves none). Errors are not modelled
// here: the circuit breakers remove failing variants through `allowed`.
import { ROLES, type Role } from '../../crds/types.js';
import type { VariantLoad } from '../load/load-tracker.js';
import { effectiveSla, type DecisionReason, type Policy, type PolicyDecision, type PolicyInput } from './policy.js';
import type { VariantProfile, VariantProfiles } from './variant-profile.js';

export interface HeuristicOptions {
  hardErrorMultiplier?: number;
  /** Requests a variant serves in parallel, for the queueing term. */
  concurrency?: number;
}

export function estimatedAccuracy(profile: VariantProfile, difficulty: number, hardErrorMultiplier = 2): number {
  const d = difficulty > 1 ? 1 : difficulty > 0 ? difficulty : 0;
  return Math.max(0, 1 - (1 - profile.accuracy) * hardErrorMultiplier * d);
}

export function expectedLatencyMs(profile: VariantProfile, load: VariantLoad, concurrency = 1): number {
  const base = load.latencyP99Ms ?? profile.latencyMsP99;
  const queued = Math.max(load.inFlight, load.queueDepth ?? 0);
  return base * (1 + queued / concurrency);
}

interface Candidate {
  role: Role;
  order: number;
  tier: number;
  accuracy: number;
  latencyMs: number;
  cost: number;
}

const TIER_REASONS: readonly DecisionReason[] = ['cheapest-within-sla', 'most-accurate-within-latency', 'least-loaded'];

function compare(a: Candidate, b: Candidate): number {
  if (a.tier !== b.tier) return a.tier - b.tier;
  let diff = 0;
  if (a.tier === 0) diff = a.cost - b.cost || b.accuracy - a.accuracy;
  else if (a.tier === 1) diff = b.accuracy - a.accuracy || a.latencyMs - b.latencyMs;
  else diff = a.latencyMs - b.latencyMs || b.accuracy - a.accuracy;
  return diff || a.order - b.order;
}

export class HeuristicPolicy implements Policy {
  readonly type = 'heuristic';
  private readonly hardErrorMultiplier: number;
  private readonly concurrency: number;

  constructor(
    private readonly profiles: VariantProfiles,
    options: HeuristicOptions = {},
  ) {
    this.hardErrorMultiplier = options.hardErrorMultiplier ?? 2;
    this.concurrency = options.concurrency ?? 1;
    if (!(this.concurrency >= 1)) throw new RangeError(`concurrency must be at least 1, got ${this.concurrency}`);
  }

  decide(input: PolicyInput): PolicyDecision {
    const { latencyBudgetMs, minAccuracy } = effectiveSla(input.sla, input.hints);
    const restrict = input.allowed !== undefined && ROLES.some((role) => input.allowed!.has(role));
    const candidates: Candidate[] = [];
    for (let order = 0; order < ROLES.length; order++) {
      const role = ROLES[order]!;
      if (restrict && !input.allowed!.has(role)) continue;
      const profile = this.profiles[role];
      const accuracy = estimatedAccuracy(profile, input.difficulty, this.hardErrorMultiplier);
      const latencyMs = expectedLatencyMs(profile, input.load[role], this.concurrency);
      const withinLatency = latencyMs <= latencyBudgetMs;
      const tier = withinLatency ? (accuracy >= minAccuracy ? 0 : 1) : 2;
      candidates.push({ role, order, tier, accuracy, latencyMs, cost: profile.relativeCost });
    }
    candidates.sort(compare);
    const first = candidates[0]!;
    return { role: first.role, ranked: candidates.map((c) => c.role), reason: TIER_REASONS[first.tier]! };
  }
}
