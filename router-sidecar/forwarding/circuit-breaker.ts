// One breaker per variant. Closed: requests flow, consecutive failures are counted. After
// `failureThreshold` in a row it opens: requests are refused until `coolDownMs` has passed. Then
// it is half-open: exactly one probe request may go; its success closes the breaker, its failure
// re-opens it for another cool-down. A probe that never reports back (lost by the caller) frees
// the slot after `probeTimeoutMs`, so a breaker cannot stay half-open forever.
import { ROLES, type Role } from '../../crds/types.js';
import { monotonicClock, type Clock } from '../clock.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  failureThreshold?: number;
  coolDownMs?: number;
  probeTimeoutMs?: number;
  clock?: Clock;
  onStateChange?: (from: BreakerState, to: BreakerState) => void;
}

export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly coolDownMs: number;
  private readonly probeTimeoutMs: number;
  private readonly clock: Clock;
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeStartedAt: number | undefined;

  constructor(private readonly options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.coolDownMs = options.coolDownMs ?? 5_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? this.coolDownMs;
    this.clock = options.clock ?? monotonicClock;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) {
      throw new RangeError(`failureThreshold must be a positive integer, got ${this.failureThreshold}`);
    }
  }

  /** The state as of now (an open breaker whose cool-down has passed reads as half-open). */
  state(): BreakerState {
    if (this.current === 'open' && this.clock() - this.openedAt >= this.coolDownMs) this.transition('half-open');
    return this.current;
  }

  /** Whether a request may be sent now; in half-open this claims the single probe. */
  tryAcquire(): boolean {
    switch (this.state()) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half-open': {
        const now = this.clock();
        if (this.probeStartedAt !== undefined && now - this.probeStartedAt < this.probeTimeoutMs) return false;
        this.probeStartedAt = now;
        return true;
      }
    }
  }

  /** Whether tryAcquire() would succeed, without claiming the probe. */
  allows(): boolean {
    const state = this.state();
    if (state === 'closed') return true;
    if (state === 'open') return false;
    return this.probeStartedAt === undefined || this.clock() - this.probeStartedAt >= this.probeTimeoutMs;
  }

  /** Gives back a probe claimed with tryAcquire() but never sent. */
  release(): void {
    if (this.state() === 'half-open') this.probeStartedAt = undefined;
  }

  onSuccess(): void {
    this.failures = 0;
    if (this.state() === 'half-open') {
      this.probeStartedAt = undefined;
      this.transition('closed');
    }
  }

  onFailure(): void {
    const state = this.state();
    if (state === 'half-open') {
      this.open();
    } else if (state === 'closed') {
      this.failures++;
      if (this.failures >= this.failureThreshold) this.open();
    }
    // Failures reported while open come from requests sent before it opened: nothing to learn.
  }

  private open(): void {
    this.openedAt = this.clock();
    this.failures = 0;
    this.probeStartedAt = undefined;
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.options.onStateChange?.(from, to);
  }
}

export type CircuitBreakers = Record<Role, CircuitBreaker>;

/** One breaker per role; `onStateChange` learns which role's breaker moved. */
export function createBreakers(
  options: Omit<CircuitBreakerOptions, 'onStateChange'> & { onStateChange?: (role: Role, from: BreakerState, to: BreakerState) => void } = {},
): CircuitBreakers {
  const { onStateChange, ...rest } = options;
  const breaker = (role: Role) => new CircuitBreaker({ ...rest, ...(onStateChange ? { onStateChange: (from, to) => onStateChange(role, from, to) } : {}) });
  return { quantized: breaker('quantized'), pruned: breaker('pruned'), distilled: breaker('distilled'), full: breaker('full') };
}

/** The roles whose breakers would let a request through now, for PolicyInput.allowed. */
export function allowedRoles(breakers: CircuitBreakers): Set<Role> {
  return new Set(ROLES.filter((role) => breakers[role].allows()));
}
