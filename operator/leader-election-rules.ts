// Pure decision logic for Lease-based leader election (coordination.k8s.io/v1), modelled on
// client-go's leaderelection package. No I/O: the caller reads the lease, asks decideLease() what to
// write, and writes it back with the observed resourceVersion so concurrent writers conflict.
import type { V1Lease, V1LeaseSpec } from '@kubernetes/client-node';

export interface LeaderElectionOptions {
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION_OPTIONS: Readonly<LeaderElectionOptions> = {
  leaseDurationSeconds: 15,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

// client-node types acquireTime/renewTime as V1MicroTime (a Date), but its ObjectSerializer passes
// those fields through untouched, so reads yield strings. Writing a Date would serialize with
// millisecond precision, which the API server rejects for MicroTime, so we always write strings.
export type MicroTimeValue = string | Date;
export type LeaseSpec = Omit<V1LeaseSpec, 'acquireTime' | 'renewTime'> & {
  acquireTime?: MicroTimeValue;
  renewTime?: MicroTimeValue;
};
export type Lease = Omit<V1Lease, 'spec'> & { spec?: LeaseSpec };

export type Decision =
  | { action: 'create'; lease: Lease }
  | { action: 'renew'; lease: Lease }
  | { action: 'takeover'; lease: Lease }
  | { action: 'wait'; holder: string; expiresInMs: number };

export interface DecideInput {
  /** The lease as last read, or null when it does not exist. */
  observed: Lease | null;
  name: string;
  namespace: string;
  identity: string;
  nowMs: number;
  options: LeaderElectionOptions;
}

export function resolveOptions(partial: Partial<LeaderElectionOptions> = {}): LeaderElectionOptions {
  const options = { ...DEFAULT_LEADER_ELECTION_OPTIONS, ...partial };
  const { leaseDurationSeconds, renewDeadlineMs, retryPeriodMs } = options;
  if (!Number.isInteger(leaseDurationSeconds) || leaseDurationSeconds < 1) {
    throw new RangeError('leaseDurationSeconds must be a positive integer');
  }
  if (!(retryPeriodMs > 0)) throw new RangeError('retryPeriodMs must be positive');
  // Same constraints as client-go: the leader must give up before anyone else may take over, and
  // must get more than one renew attempt before its deadline.
  if (!(renewDeadlineMs < leaseDurationSeconds * 1000)) {
    throw new RangeError('renewDeadlineMs must be less than leaseDurationSeconds');
  }
  if (!(renewDeadlineMs > 1.2 * retryPeriodMs)) {
    throw new RangeError('renewDeadlineMs must be greater than 1.2 * retryPeriodMs');
  }
  return options;
}

/** RFC3339 with exactly six fractional digits, e.g. 2026-11-23T02:08:37.123000Z. */
export function toMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

export function parseMicroTime(value: MicroTimeValue | undefined | null): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

export function decideLease(input: DecideInput): Decision {
  const { observed, identity, nowMs, options } = input;
  const now = toMicroTime(nowMs);

  if (observed === null) {
    return {
      action: 'create',
      lease: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: input.name, namespace: input.namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: options.leaseDurationSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      },
    };
  }

  const spec = observed.spec ?? {};
  const holder = spec.holderIdentity ?? '';

  if (holder === identity) {
    return {
      action: 'renew',
      lease: {
        ...observed,
        spec: { ...spec, renewTime: now, leaseDurationSeconds: options.leaseDurationSeconds },
      },
    };
  }

  if (holder !== '') {
    // The holder's own declared duration governs expiry, not ours.
    const durationMs = (spec.leaseDurationSeconds ?? options.leaseDurationSeconds) * 1000;
    const renewedAt = parseMicroTime(spec.renewTime);
    // A lease without a readable renewTime cannot be shown to be fresh, so it counts as expired.
    const expiresInMs = renewedAt === undefined ? 0 : renewedAt + durationMs - nowMs;
    if (expiresInMs > 0) return { action: 'wait', holder, expiresInMs };
  }

  return {
    action: 'takeover',
    lease: {
      ...observed,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: options.leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
      },
    },
  };
}

/**
 * The lease a holder writes when giving it up on purpose (client-go ReleaseOnCancel): no holder,
 * so other candidates may take it over on their next attempt instead of waiting for expiry.
 */
export function releasedLease(lease: Lease, nowMs: number): Lease {
  const now = toMicroTime(nowMs);
  return {
    ...lease,
    spec: {
      ...lease.spec,
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
    },
  };
}
