// Lease-based leader election loop. All decisions come from leader-election-rules.ts; this module
// only reads and writes the Lease and keeps time. Every write carries the resourceVersion that was
// read, so when two candidates race, the API server lets exactly one of them win (409 for the other).
import { errorMessage } from '../common/logger.js';
import {
  decideLease,
  releasedLease,
  resolveOptions,
  type Lease,
  type LeaderElectionOptions,
} from './leader-election-rules.js';

/** The subset of client-node's CoordinationV1Api that the elector uses. */
export interface LeaseApi {
  readNamespacedLease(param: { name: string; namespace: string }): Promise<Lease>;
  createNamespacedLease(param: { namespace: string; body: Lease }): Promise<Lease>;
  replaceNamespacedLease(param: { name: string; namespace: string; body: Lease }): Promise<Lease>;
}

export interface Clock {
  now(): number;
  /** Resolves after ms, or as soon as signal aborts. Never rejects. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface ElectionLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

/** 'lost': another holder was observed or renewal missed its deadline. 'stopped': stop() was called. */
export type StopReason = 'lost' | 'stopped';

export interface LeaderElectorConfig {
  api: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  options?: Partial<LeaderElectionOptions>;
  clock?: Clock;
  logger?: ElectionLogger;
  /** Not awaited: it may run for as long as leadership lasts. */
  onStartedLeading(): void | Promise<void>;
  /** Called once per onStartedLeading; on stop() the lease is released after this resolves. */
  onStoppedLeading(reason: StopReason): void | Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    }),
};

const silentLogger: ElectionLogger = { info() {}, warn() {} };

type RoundResult =
  | { kind: 'holding'; lease: Lease; renewedAtMs: number }
  | { kind: 'held-by-other'; holder: string }
  | { kind: 'failed' };

export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly options: LeaderElectionOptions;
  private readonly clock: Clock;
  private readonly logger: ElectionLogger;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private stopCall: Promise<void> | undefined;
  private leading = false;
  /** The lease as our last successful write left it; its resourceVersion is what release() needs. */
  private held: Lease | undefined;
  private lastRenewMs = 0;

  constructor(private readonly config: LeaderElectorConfig) {
    this.api = config.api;
    this.options = resolveOptions(config.options);
    this.clock = config.clock ?? systemClock;
    this.logger = config.logger ?? silentLogger;
  }

  /**
   * Campaigns until elected, then renews until leadership is lost or stop() is called. Resolves
   * when it is over; it does not campaign again (like client-go, callers exit and restart).
   */
  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  /** True only while renewals are within the renew deadline, even if the loop has not noticed yet. */
  isLeader(): boolean {
    return this.leading && this.clock.now() - this.lastRenewMs < this.options.renewDeadlineMs;
  }

  /** Ends the loop and, if the lease is held, releases it (best effort). Idempotent. */
  stop(): Promise<void> {
    this.stopCall ??= (async () => {
      this.stopping.abort();
      await this.running;
      if (this.leading) await this.stepDown('stopped');
      if (this.held) await this.release(this.held);
    })();
    return this.stopCall;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.options;
    while (!this.stopped) {
      const result = await this.raceRound(renewDeadlineMs);
      if (result?.kind === 'holding') {
        this.held = result.lease;
        this.lastRenewMs = result.renewedAtMs;
        break;
      }
      await this.clock.sleep(retryPeriodMs, this.stopping.signal);
    }
    if (this.stopped) return; // stop() releases anything we acquired.

    this.leading = true;
    this.logger.info('leader election: started leading', this.describe());
    this.notifyStarted();

    while (!this.stopped) {
      await this.clock.sleep(retryPeriodMs, this.stopping.signal);
      if (this.stopped) return;
      const remainingMs = this.lastRenewMs + renewDeadlineMs - this.clock.now();
      const result = remainingMs > 0 ? await this.raceRound(remainingMs) : undefined;
      if (result?.kind === 'holding') {
        this.held = result.lease;
        this.lastRenewMs = result.renewedAtMs;
        continue;
      }
      if (this.stopped) return;
      if (result?.kind === 'held-by-other') {
        this.logger.warn('leader election: lease taken by another holder', { ...this.describe(), holder: result.holder });
      } else if (this.clock.now() - this.lastRenewMs < renewDeadlineMs) {
        continue; // a failed renew is retried until the deadline
      } else {
        this.logger.warn('leader election: failed to renew within the renew deadline', this.describe());
      }
      this.held = undefined;
      await this.stepDown('lost');
      return;
    }
  }

  /**
   * One read-decide-write round, abandoned after timeoutMs or on stop() so that a hung request
   * cannot keep a leader past its deadline. undefined means abandoned.
   */
  private raceRound(timeoutMs: number): Promise<RoundResult | undefined> {
    return this.within(this.round(), timeoutMs, this.stopping.signal);
  }

  /** Settles with work, or with undefined once timeoutMs pass or signal aborts. work must not reject. */
  private async within<T>(work: Promise<T>, timeoutMs: number, signal?: AbortSignal): Promise<T | undefined> {
    const timer = new AbortController();
    const abandon = () => timer.abort();
    signal?.addEventListener('abort', abandon);
    if (signal?.aborted) abandon();
    try {
      return await Promise.race([work, this.clock.sleep(timeoutMs, timer.signal).then(() => undefined)]);
    } finally {
      timer.abort();
      signal?.removeEventListener('abort', abandon);
    }
  }

  /** Never rejects. */
  private async round(): Promise<RoundResult> {
    const { name, namespace, identity } = this.config;
    let observed: Lease | null;
    try {
      observed = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusCode(err) !== 404) {
        this.logger.warn('leader election: reading lease failed', { ...this.describe(), error: errorMessage(err) });
        return { kind: 'failed' };
      }
      observed = null;
    }

    const nowMs = this.clock.now();
    const decision = decideLease({ observed, name, namespace, identity, nowMs, options: this.options });
    if (decision.action === 'wait') return { kind: 'held-by-other', holder: decision.holder };

    try {
      const lease =
        decision.action === 'create'
          ? await this.api.createNamespacedLease({ namespace, body: decision.lease })
          : await this.api.replaceNamespacedLease({ name, namespace, body: decision.lease });
      if (decision.action === 'takeover') {
        this.logger.info('leader election: took over lease', {
          ...this.describe(),
          previousHolder: observed?.spec?.holderIdentity ?? '',
        });
      }
      return { kind: 'holding', lease, renewedAtMs: nowMs };
    } catch (err) {
      if (statusCode(err) === 409) {
        // Someone wrote between our read and write; the next round re-reads and decides afresh.
        this.logger.info('leader election: lost a write race', { ...this.describe(), action: decision.action });
      } else {
        this.logger.warn(`leader election: ${decision.action} failed`, { ...this.describe(), error: errorMessage(err) });
      }
      return { kind: 'failed' };
    }
  }

  private notifyStarted(): void {
    try {
      Promise.resolve(this.config.onStartedLeading()).catch((err: unknown) =>
        this.logger.warn('leader election: onStartedLeading failed', { ...this.describe(), error: errorMessage(err) }),
      );
    } catch (err) {
      this.logger.warn('leader election: onStartedLeading failed', { ...this.describe(), error: errorMessage(err) });
    }
  }

  private async stepDown(reason: StopReason): Promise<void> {
    this.leading = false;
    this.logger.info('leader election: stopped leading', { ...this.describe(), reason });
    try {
      await this.config.onStoppedLeading(reason);
    } catch (err) {
      this.logger.warn('leader election: onStoppedLeading failed', { ...this.describe(), error: errorMessage(err) });
    }
  }

  /** Bounded by the renew deadline so that a hung API server cannot hold up shutdown. */
  private async release(lease: Lease): Promise<void> {
    this.held = undefined;
    const { name, namespace } = this.config;
    const attempt = this.api
      .replaceNamespacedLease({ name, namespace, body: releasedLease(lease, this.clock.now()) })
      .then(() => ({ error: undefined }), (err: unknown) => ({ error: errorMessage(err) }));
    const outcome = (await this.within(attempt, this.options.renewDeadlineMs)) ?? { error: 'timed out' };
    if (outcome.error === undefined) {
      this.logger.info('leader election: released lease', this.describe());
    } else {
      // Not fatal: the lease simply expires after its duration.
      this.logger.warn('leader election: releasing lease failed', { ...this.describe(), error: outcome.error });
    }
  }

  private describe(): Record<string, unknown> {
    const { namespace, name, identity } = this.config;
    return { lease: `${namespace}/${name}`, identity };
  }
}

function statusCode(err: unknown): number | undefined {
  // client-node's ApiException carries the HTTP status as a numeric code; Node's system errors use
  // string codes such as 'ECONNRESET', which are not statuses.
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
