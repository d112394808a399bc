// The agent's decision: a pure function of the recent divergence samples and the current state.
// No clock, no I/O, no randomness, so every path is a table-driven test.
//
// Model:
// - A sample is "drifted" when its divergence exceeds the threshold (NaN counts as drifted).
// - risk = drifted fraction of the window (the last `windowSize` samples, no older than
//   `maxObservationAgeMs` before the newest one).
// - Reuse is disabled when the window holds at least `minSamples` and risk >= `tripFraction`, so
//   one outlier cannot trip it.
// - While disabled the router keeps sampling would-be hits ("shadow" samples). Reuse comes back
//   after `cleanRunToEnable` consecutive clean samples, and only if the window is below the trip
//   fraction, so enabling cannot be followed at once by disabling.
// - While enabled, the TTL follows risk: base × (1 - risk), with risk rounded down to steps of
//   1 / `ttlSteps` (small wobbles do not move it) and bounded below by `minTtlMs`. It shortens as
//   risk grows and lengthens back as risk falls. With `adaptTtl` false (ttlMode fixed) the TTL
//   never moves and only reuse is switched.
import type { CacheSpec } from '../../crds/types.js';

export interface Observation {
  /** Milliseconds; only differences matter. */
  at: number;
  divergence: number;
}

export interface AgentState {
  reuseEnabled: boolean;
  /** Consecutive clean samples; reset by a drifted sample and when reuse is disabled. */
  cleanRun: number;
  ttlMs: number;
  baseTtlMs: number;
}

export interface AgentConfig {
  threshold: number;
  windowSize: number;
  minSamples: number;
  tripFraction: number;
  cleanRunToEnable: number;
  minTtlMs: number;
  ttlSteps: number;
  maxObservationAgeMs: number;
  /** Whether the TTL follows risk (ttlMode adaptive, the default). */
  adaptTtl?: boolean;
}

export type AgentAction = 'disable' | 'enable' | 'set-ttl' | 'none';

export interface Decision {
  action: AgentAction;
  reason: string;
  /** Set with action 'set-ttl'. */
  ttlMs?: number;
  risk: number;
  /** The state after applying the decision. */
  next: AgentState;
}

export type AgentTuning = Omit<AgentConfig, 'threshold' | 'minTtlMs' | 'adaptTtl'> & { minTtlFraction: number };

export const DEFAULT_AGENT_TUNING: AgentTuning = {
  windowSize: 10,
  minSamples: 5,
  tripFraction: 0.5,
  cleanRunToEnable: 30,
  ttlSteps: 10,
  maxObservationAgeMs: Infinity,
  minTtlFraction: 0.1,
};

/** The agent's configuration for a cascade's cache spec, with tuning defaults. */
export function agentConfigFor(cache: CacheSpec, tuning: Partial<AgentTuning> = {}): AgentConfig {
  const { minTtlFraction, ...rest } = { ...DEFAULT_AGENT_TUNING, ...tuning };
  return {
    ...rest,
    threshold: cache.drift.threshold,
    minTtlMs: Math.max(1, Math.round(cache.ttlSeconds * 1000 * minTtlFraction)),
    adaptTtl: (cache.ttlMode ?? 'adaptive') === 'adaptive',
  };
}

export function initialAgentState(baseTtlMs: number): AgentState {
  return { reuseEnabled: true, cleanRun: 0, ttlMs: baseTtlMs, baseTtlMs };
}

function drifted(observation: Observation, threshold: number): boolean {
  return !(observation.divergence <= threshold);
}

/** The TTL for a risk in [0, 1]; never increasing in risk. */
export function ttlForRisk(risk: number, baseTtlMs: number, config: Pick<AgentConfig, 'minTtlMs' | 'ttlSteps'>): number {
  // The epsilon keeps 0.7 × 10 = 6.999… from stepping down a level.
  const stepped = Math.floor(risk * config.ttlSteps + 1e-9) / config.ttlSteps;
  const floor = Math.min(config.minTtlMs, baseTtlMs);
  return Math.max(floor, Math.round(baseTtlMs * (1 - Math.min(1, Math.max(0, stepped)))));
}

function windowCounts(window: readonly Observation[], newest: Observation, config: AgentConfig): { samples: number; drifted: number } {
  const oldest = newest.at - config.maxObservationAgeMs;
  let samples = 0;
  let driftedCount = 0;
  for (let i = window.length - 1; i >= 0 && samples < config.windowSize; i--) {
    const observation = window[i]!;
    if (observation.at < oldest) break;
    samples++;
    if (drifted(observation, config.threshold)) driftedCount++;
  }
  return { samples, drifted: driftedCount };
}

/** `window` holds the samples oldest first; its last element is the one that prompted this call. */
export function decide(window: readonly Observation[], state: AgentState, config: AgentConfig): Decision {
  const newest = window[window.length - 1];
  if (!newest) return { action: 'none', reason: 'no samples', risk: 0, next: state };
  const counts = windowCounts(window, newest, config);
  const risk = counts.drifted / counts.samples;
  const cleanRun = drifted(newest, config.threshold) ? 0 : state.cleanRun + 1;
  const tripped = counts.samples >= config.minSamples && risk >= config.tripFraction;
  const summary = `${counts.drifted} of the last ${counts.samples} sampled cache hits diverged by more than ${config.threshold}`;

  if (!state.reuseEnabled) {
    if (cleanRun >= config.cleanRunToEnable && !tripped) {
      return {
        action: 'enable',
        reason: `${cleanRun} consecutive shadow samples within ${config.threshold}`,
        risk,
        next: { ...state, reuseEnabled: true, cleanRun },
      };
    }
    return { action: 'none', reason: `reuse stays disabled: ${cleanRun} of ${config.cleanRunToEnable} clean samples`, risk, next: { ...state, cleanRun } };
  }

  if (tripped) return { action: 'disable', reason: summary, risk, next: { ...state, reuseEnabled: false, cleanRun: 0 } };
  const adapts = config.adaptTtl !== false && counts.samples >= config.minSamples;
  const ttlMs = adapts ? ttlForRisk(risk, state.baseTtlMs, config) : state.ttlMs;
  if (ttlMs !== state.ttlMs) {
    return { action: 'set-ttl', reason: `${summary}: TTL ${state.ttlMs} ms -> ${ttlMs} ms`, ttlMs, risk, next: { ...state, cleanRun, ttlMs } };
  }
  return { action: 'none', reason: summary, risk, next: { ...state, cleanRun } };
}
