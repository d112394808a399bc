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
// - In adaptive TTL mode (the default), entries that may predate a change stop being reused:
//   disabling expires every entry stored before the sample that tripped it (the drift began
//   before it was seen), and enabling expires every entry stored before the clean run began
//   (stored while the inputs were still moving). Without this, re-enabled reuse serves the
//   drifted period's embeddings after the inputs come back and trips the agent a second time.
//   In effect each entry's TTL is cut to what the observed risk says is still safe.
// - With `adaptTtl` false (ttlMode fixed) entries live their full TTL and only reuse is switched.
//
// An earlier rule shortened the TTL of every entry in proportion to the window's risk. On
// sessions-32 it bought nothing: away from drift the risk of reuse barely depends on an entry's
// age, and a shorter TTL kept the window from tripping during drift (reports/experiment-risk.md).
import type { CacheSpec } from '../../crds/types.js';

export interface Observation {
  /** Milliseconds; only differences matter. */
  at: number;
  divergence: number;
  /** The cache's store-order mark when the sample was taken (entries stored earlier are before it). */
  mark?: number;
}

export interface AgentState {
  reuseEnabled: boolean;
  /** Consecutive clean samples; reset by a drifted sample and when reuse is disabled. */
  cleanRun: number;
  /** The cache mark of the current clean run's first sample; unset with no clean run or no marks. */
  cleanSince?: number;
}

export interface AgentConfig {
  threshold: number;
  windowSize: number;
  minSamples: number;
  tripFraction: number;
  cleanRunToEnable: number;
  maxObservationAgeMs: number;
  /** Whether entries that may predate a detected change expire early (ttlMode adaptive, the default). */
  adaptTtl?: boolean;
}

export type AgentAction = 'disable' | 'enable' | 'none';

export interface Decision {
  action: AgentAction;
  reason: string;
  /** Adaptive mode, with 'disable' and 'enable': entries stored before this cache mark are to expire. */
  expireStoredBefore?: number;
  risk: number;
  /** The state after applying the decision. */
  next: AgentState;
}

export type AgentTuning = Omit<AgentConfig, 'threshold' | 'adaptTtl'>;

export const DEFAULT_AGENT_TUNING: AgentTuning = {
  windowSize: 10,
  minSamples: 5,
  tripFraction: 0.5,
  cleanRunToEnable: 30,
  maxObservationAgeMs: Infinity,
};

/** The agent's configuration for a cascade's cache spec, with tuning defaults. */
export function agentConfigFor(cache: CacheSpec, tuning: Partial<AgentTuning> = {}): AgentConfig {
  return {
    ...DEFAULT_AGENT_TUNING,
    ...tuning,
    threshold: cache.drift.threshold,
    adaptTtl: (cache.ttlMode ?? 'adaptive') === 'adaptive',
  };
}

export function initialAgentState(): AgentState {
  return { reuseEnabled: true, cleanRun: 0 };
}

function drifted(observation: Observation, threshold: number): boolean {
  return !(observation.divergence <= threshold);
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
  const isClean = !drifted(newest, config.threshold);
  const cleanRun = isClean ? state.cleanRun + 1 : 0;
  const cleanSince = !isClean ? undefined : state.cleanRun === 0 || state.cleanSince === undefined ? newest.mark : state.cleanSince;
  const running = (reuseEnabled: boolean): AgentState => ({ reuseEnabled, cleanRun, ...(cleanSince !== undefined ? { cleanSince } : {}) });
  const adaptive = config.adaptTtl !== false;
  const tripped = counts.samples >= config.minSamples && risk >= config.tripFraction;
  const summary = `${counts.drifted} of the last ${counts.samples} sampled cache hits diverged by more than ${config.threshold}`;

  if (!state.reuseEnabled) {
    if (cleanRun >= config.cleanRunToEnable && !tripped) {
      return {
        action: 'enable',
        reason: `${cleanRun} consecutive shadow samples within ${config.threshold}`,
        risk,
        ...(adaptive && cleanSince !== undefined ? { expireStoredBefore: cleanSince } : {}),
        next: running(true),
      };
    }
    return { action: 'none', reason: `reuse stays disabled: ${cleanRun} of ${config.cleanRunToEnable} clean samples`, risk, next: running(false) };
  }

  if (tripped) return { action: 'disable', reason: summary, risk, ...(adaptive && newest.mark !== undefined ? { expireStoredBefore: newest.mark } : {}), next: { reuseEnabled: false, cleanRun: 0 } };
  return { action: 'none', reason: summary, risk, next: running(true) };
}
