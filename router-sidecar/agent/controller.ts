// Applies the agent's decisions: feeds each sample to decide(), then acts through injected effects
// (the cache, metrics, the log, Kubernetes Events). Only changes are acted on, so a cascade that
// stays drifted produces one "disabled" Event, not one per sample. In observe mode (drift.mode observe) the
// decisions are made and recorded as would-be actions, and nothing is changed.
import { errorMessage, type Logger } from '../../common/logger.js';
import { wallClock, type Clock } from '../clock.js';
import { decide, initialAgentState, type AgentAction, type AgentConfig, type AgentState, type Decision } from './decide.js';
import { DriftObserver } from './observer.js';

export type AppliedAction = Exclude<AgentAction, 'none'>;

export interface AgentEffects {
  /** `reason` is a short code for the cascade's status: DriftDetected or DriftCleared. */
  setReuse(enabled: boolean, reason: string): void;
  /** Entries stored before this cache mark are not to be reused again. */
  expireStoredBefore(mark: number): void;
  /** For a metric such as cache_agent_actions_total{action}. */
  recordAction(action: AppliedAction, reason: string): void;
  log: Logger;
  /** A Kubernetes Event on the cascade; failures are logged, never thrown back. */
  emitEvent(reason: string, message: string): void | Promise<void>;
}

export interface AgentActionRecord {
  /** The router's request counter when the sample that caused the action arrived. */
  request: number;
  at: number;
  action: AppliedAction;
  reason: string;
  risk: number;
  /** Adaptive TTL: entries stored before this cache mark were expired. */
  expiredStoredBefore?: number;
  /** False when the agent only observes: the action was decided but not taken. */
  enforced: boolean;
}

export interface AgentSample {
  divergence: number;
  request: number;
  /** Defaults to the controller's clock. */
  at?: number;
  /** The cache's mark() when the sample was taken, before the fresh embedding is stored. */
  mark?: number;
}

export interface AgentControllerOptions {
  config: AgentConfig;
  sampleRate: number;
  effects: AgentEffects;
  clock?: Clock;
  /** Oldest action records are dropped beyond this many. */
  maxActions?: number;
  /** False: decide and record, change nothing (drift.mode observe). Default true. */
  enforce?: boolean;
}

export const REUSE_DISABLED_EVENT = 'CacheReuseDisabled';
export const REUSE_ENABLED_EVENT = 'CacheReuseEnabled';
export const DRIFT_DETECTED = 'DriftDetected';
export const DRIFT_CLEARED = 'DriftCleared';

/** Emits an Event without ever throwing back: a synchronous throw or a rejection goes to `onFailure`. */
export function emitBestEffort(
  emitEvent: AgentEffects['emitEvent'], reason: string, message: string, onFailure: (error: unknown) => void = () => undefined,
): void {
  try {
    const pending = emitEvent(reason, message);
    if (pending) pending.catch(onFailure);
  } catch (err) {
    onFailure(err);
  }
}

export class AgentController {
  observer: DriftObserver;
  private current: AgentState;
  private readonly history: AgentActionRecord[] = [];
  private readonly clock: Clock;
  private readonly maxActions: number;

  constructor(private options: AgentControllerOptions) {
    this.observer = new DriftObserver({ sampleRate: options.sampleRate, windowSize: options.config.windowSize });
    this.current = initialAgentState();
    this.clock = options.clock ?? wallClock;
    this.maxActions = options.maxActions ?? 1000;
  }

  /**
   * A reloaded config with other drift settings: new threshold, window and sample rate apply from
   * now on; the sample window starts empty, the reuse state carries over.
   */
  reconfigure(config: AgentConfig, sampleRate: number, enforce = true): void {
    this.options = { ...this.options, config, sampleRate, enforce };
    this.observer = new DriftObserver({ sampleRate, windowSize: config.windowSize });
    this.current = { reuseEnabled: this.current.reuseEnabled, cleanRun: 0 };
  }

  /** Someone else (an administrator) switched reuse: start from that state, with no clean run yet. */
  syncReuse(enabled: boolean): void {
    this.current = { ...this.current, reuseEnabled: enabled, cleanRun: 0 };
  }

  observe(sample: AgentSample): Decision {
    const at = sample.at ?? this.clock();
    const window = this.observer.record({ at, divergence: sample.divergence, ...(sample.mark !== undefined ? { mark: sample.mark } : {}) });
    const decision = decide(window, this.current, this.options.config);
    const changed = this.apply(decision);
    this.current = decision.next;
    if (changed) {
      const { action, reason, risk, expireStoredBefore } = decision;
      this.remember({
        request: sample.request, at, action: action as AppliedAction, reason, risk,
        ...(expireStoredBefore !== undefined ? { expiredStoredBefore: expireStoredBefore } : {}), enforced: this.enforcing,
      });
    }
    return decision;
  }

  state(): AgentState {
    return this.current;
  }

  actions(): readonly AgentActionRecord[] {
    return this.history;
  }

  get enforcing(): boolean {
    return this.options.enforce !== false;
  }

  /** Acts on the decision if it changes something (or, observing, would); returns whether it did. */
  private apply(decision: Decision): boolean {
    const { effects } = this.options;
    const context = { action: decision.action, reason: decision.reason, risk: decision.risk };
    if (!this.enforcing) {
      const changes =
        (decision.action === 'disable' && this.current.reuseEnabled) ||
        (decision.action === 'enable' && !this.current.reuseEnabled);
      if (changes) effects.log.info('cache agent would act (drift.mode observe: nothing changed)', context);
      return changes;
    }
    switch (decision.action) {
      case 'disable':
        if (!this.current.reuseEnabled) return false;
        effects.setReuse(false, DRIFT_DETECTED);
        this.expireSuspects(decision);
        effects.log.warn('cache reuse disabled', context);
        this.emit(REUSE_DISABLED_EVENT, `Cache reuse disabled: ${decision.reason}`);
        break;
      case 'enable':
        if (this.current.reuseEnabled) return false;
        this.expireSuspects(decision);
        effects.setReuse(true, DRIFT_CLEARED);
        effects.log.info('cache reuse enabled', context);
        this.emit(REUSE_ENABLED_EVENT, `Cache reuse enabled: ${decision.reason}`);
        break;
      case 'none':
        return false;
    }
    effects.recordAction(decision.action, decision.reason);
    return true;
  }

  private expireSuspects(decision: Decision): void {
    if (decision.expireStoredBefore === undefined) return;
    this.options.effects.expireStoredBefore(decision.expireStoredBefore);
    this.options.effects.log.info('cache entries that may predate the change expired', { action: decision.action, storedBeforeMark: decision.expireStoredBefore });
  }

  private emit(reason: string, message: string): void {
    const { effects } = this.options;
    emitBestEffort(effects.emitEvent, reason, message, (err) => effects.log.warn('could not emit cache agent event', { reason, error: errorMessage(err) }));
  }

  private remember(record: AgentActionRecord): void {
    this.history.push(record);
    if (this.history.length > this.maxActions) this.history.shift();
  }
}
