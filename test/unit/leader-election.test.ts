import assert from 'node:assert/strict';
import { ApiException, type CoordinationV1Api } from '@kubernetes/client-node';
import {
  DEFAULT_LEADER_ELECTION_OPTIONS,
  decideLease,
  parseMicroTime,
  releasedLease,
  resolveOptions,
  toMicroTime,
  type Decision,
  type Lease,
  type LeaseSpec,
} from '../../operator/leader-election-rules.js';
import { LeaderElector, systemClock, type Clock, type LeaseApi, type StopReason } from '../../operator/leader-election.js';

// Compile-time check (npx tsc): the real client satisfies the elector's minimal interface.
export const realApiFits = (api: CoordinationV1Api): LeaseApi => api;

const T0 = Date.UTC(2026, 10, 23, 2, 8, 37, 123);
const NAME = 'operator-leader';
const NAMESPACE = 'inference';
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const options = DEFAULT_LEADER_ELECTION_OPTIONS;

function lease(spec: LeaseSpec, resourceVersion = '7'): Lease {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: NAME, namespace: NAMESPACE, resourceVersion }, spec };
}

function decide(observed: Lease | null, nowMs = T0, identity = 'me'): Decision {
  return decideLease({ observed, name: NAME, namespace: NAMESPACE, identity, nowMs, options });
}

function written(decision: Decision): Lease {
  assert.ok(decision.action !== 'wait', `expected a write, got ${JSON.stringify(decision)}`);
  return decision.lease;
}

describe('leader election rules', () => {
  const now = toMicroTime(T0);
  const secondsAgo = (s: number) => toMicroTime(T0 - s * 1000);

  interface Case {
    name: string;
    observed: Lease | null;
    action: Decision['action'];
    /** For writes: expected spec. For 'wait': expected holder and expiresInMs. */
    spec?: LeaseSpec;
    wait?: { holder: string; expiresInMs: number };
  }

  const cases: Case[] = [
    {
      name: 'no lease: create it, holding it from now',
      observed: null,
      action: 'create',
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    },
    {
      name: 'my lease: renew, keeping acquireTime and transitions',
      observed: lease({ holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: secondsAgo(60), renewTime: secondsAgo(2), leaseTransitions: 3 }),
      action: 'renew',
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: secondsAgo(60), renewTime: now, leaseTransitions: 3 },
    },
    {
      name: 'my lease, already expired: still mine, renew',
      observed: lease({ holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: secondsAgo(60), renewTime: secondsAgo(40), leaseTransitions: 3 }),
      action: 'renew',
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: secondsAgo(60), renewTime: now, leaseTransitions: 3 },
    },
    {
      name: "someone else's fresh lease: wait until it expires",
      observed: lease({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: secondsAgo(5), leaseTransitions: 3 }),
      action: 'wait',
      wait: { holder: 'other', expiresInMs: 10_000 },
    },
    {
      name: "someone else's lease 1 ms before expiry: wait",
      observed: lease({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: toMicroTime(T0 - 14_999), leaseTransitions: 3 }),
      action: 'wait',
      wait: { holder: 'other', expiresInMs: 1 },
    },
    {
      name: "the holder's own (longer) duration governs expiry, not mine",
      observed: lease({ holderIdentity: 'other', leaseDurationSeconds: 30, renewTime: secondsAgo(20), leaseTransitions: 3 }),
      action: 'wait',
      wait: { holder: 'other', expiresInMs: 10_000 },
    },
    {
      name: 'renewTime deserialized as a Date (as the client-node typings claim) is understood',
      observed: lease({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date(T0 - 5000), leaseTransitions: 3 }),
      action: 'wait',
      wait: { holder: 'other', expiresInMs: 10_000 },
    },
    {
      name: 'renewTime with microseconds from the API server is understood',
      observed: lease({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: '2026-11-23T02:08:32.123456Z' }),
      action: 'wait',
      wait: { holder: 'other', expiresInMs: 10_000 },
    },
    {
      name: "someone else's lease exactly at expiry: take over, counting a transition",
      observed: lease({ holderIdentity: 'other', leaseDurationSeconds: 15, acquireTime: secondsAgo(60), renewTime: secondsAgo(15), leaseTransitions: 3 }),
      action: 'takeover',
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 4 },
    },
    {
      name: 'released lease (no holder, renewed just now): take over at once',
      observed: lease({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: 4 }),
      action: 'takeover',
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 5 },
    },
    {
      name: 'lease with an empty spec: take over as the first transition',
      observed: lease({}),
      action: 'takeover',
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 1 },
    },
    {
      name: 'holder with an unreadable renewTime cannot prove freshness: take over',
      observed: lease({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: 'yesterday', leaseTransitions: 0 }),
      action: 'takeover',
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 1 },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const before = structuredClone(c.observed);
      const decision = decide(c.observed);
      assert.equal(decision.action, c.action);
      assert.deepEqual(c.observed, before, 'the observed lease must not be mutated');
      if (decision.action === 'wait') {
        assert.deepEqual({ holder: decision.holder, expiresInMs: decision.expiresInMs }, c.wait);
        return;
      }
      assert.deepEqual(decision.lease.spec, c.spec);
      // Writes go back with the observed resourceVersion; that is what makes them compare-and-swap.
      assert.deepEqual(decision.lease.metadata, c.observed?.metadata ?? { name: NAME, namespace: NAMESPACE });
      assert.match(String(decision.lease.spec?.renewTime), MICRO_TIME);
    });
  }

  it('transitions increment once per change of holder across a sequence of holders', () => {
    let current = written(decide(null, T0, 'a'));
    current = written(decide(current, T0 + 2000, 'a'));
    current = written(decide(current, T0 + 20_000, 'b')); // a's lease expired
    current = written(decide(releasedLease(current, T0 + 21_000), T0 + 21_000, 'a'));
    current = written(decide(current, T0 + 23_000, 'a'));
    assert.equal(current.spec?.holderIdentity, 'a');
    assert.equal(current.spec?.leaseTransitions, 2);
  });

  it('releasedLease clears the holder, shortens the duration and keeps resourceVersion and transitions', () => {
    const held = lease({ holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: secondsAgo(60), renewTime: secondsAgo(1), leaseTransitions: 4 }, '42');
    assert.deepEqual(releasedLease(held, T0), lease({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: 4 }, '42'));
  });

  it('MicroTime strings have exactly six fractional digits and round-trip', () => {
    assert.equal(toMicroTime(T0), '2026-11-23T02:08:37.123000Z');
    assert.equal(parseMicroTime(toMicroTime(T0)), T0);
    assert.equal(parseMicroTime(new Date(T0)), T0);
    assert.equal(parseMicroTime('2026-11-23T02:08:37.123456Z'), T0);
    assert.equal(parseMicroTime(undefined), undefined);
    assert.equal(parseMicroTime('not a time'), undefined);
  });

  it('options default like client-go and reject a renew deadline that outlasts the lease', () => {
    assert.deepEqual(resolveOptions(), { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2000 });
    assert.throws(() => resolveOptions({ renewDeadlineMs: 15_000 }), RangeError);
    assert.throws(() => resolveOptions({ retryPeriodMs: 9000 }), RangeError);
    assert.throws(() => resolveOptions({ leaseDurationSeconds: 0 }), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Elector against an in-memory API server that enforces resourceVersion compare-and-swap.

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Virtual time: sleeps resolve only when the test advances the clock past them. */
class FakeClock implements Clock {
  private nowMs = T0;
  private seq = 0;
  private timers: { at: number; seq: number; fire: () => void }[] = [];

  now(): number {
    return this.nowMs;
  }

  elapsed(): number {
    return this.nowMs - T0;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = { at: this.nowMs + ms, seq: this.seq++, fire: () => done() };
      const done = () => {
        this.timers = this.timers.filter((t) => t !== timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.timers.push(timer);
      signal.addEventListener('abort', done);
    });
  }

  /** Moves time without firing timers, as when the event loop is stalled. */
  jumpTo(ms: number): void {
    this.nowMs = T0 + ms;
  }

  /** Advances to elapsed time `ms` since T0, firing due timers in order and letting each settle. */
  async advanceTo(ms: number): Promise<void> {
    const target = T0 + ms;
    await flush();
    for (;;) {
      const next = this.timers
        .filter((t) => t.at <= target)
        .sort((x, y) => x.at - y.at || x.seq - y.seq)[0];
      if (!next) break;
      this.nowMs = Math.max(this.nowMs, next.at);
      next.fire();
      await flush();
    }
    this.nowMs = target;
    await flush();
  }
}

class FakeLeaseServer {
  private stored: Lease | undefined;
  private version = 100;
  conflicts = 0;

  get lease(): Lease | undefined {
    return structuredClone(this.stored);
  }

  read(name: string, namespace: string): Lease {
    if (!this.stored || !this.matches(name, namespace)) throw new ApiException(404, 'not found', {}, {});
    return structuredClone(this.stored);
  }

  create(namespace: string, body: Lease): Lease {
    this.validate(body);
    if (this.stored) {
      this.conflicts++;
      throw new ApiException(409, 'AlreadyExists', {}, {});
    }
    assert.equal(body.metadata?.namespace, namespace);
    return this.store(body);
  }

  replace(name: string, namespace: string, body: Lease): Lease {
    this.validate(body);
    const resourceVersion = body.metadata?.resourceVersion;
    // The real server would accept this unconditionally, which is exactly the bug to catch.
    if (!resourceVersion) throw new Error('test failure: replace without resourceVersion');
    if (!this.stored || !this.matches(name, namespace)) throw new ApiException(404, 'not found', {}, {});
    if (resourceVersion !== this.stored.metadata?.resourceVersion) {
      this.conflicts++;
      throw new ApiException(409, 'Conflict: the object has been modified', {}, {});
    }
    return this.store(body);
  }

  /** An out-of-band write, as another process would make. */
  put(spec: LeaseSpec): void {
    this.store({ metadata: { name: NAME, namespace: NAMESPACE }, spec });
  }

  client(): FakeLeaseClient {
    return new FakeLeaseClient(this);
  }

  private matches(name: string, namespace: string): boolean {
    return this.stored?.metadata?.name === name && this.stored.metadata.namespace === namespace;
  }

  private validate(body: Lease): void {
    for (const field of ['acquireTime', 'renewTime'] as const) {
      const value = body.spec?.[field];
      if (value !== undefined && !(typeof value === 'string' && MICRO_TIME.test(value))) {
        throw new ApiException(422, `spec.${field}: invalid MicroTime ${String(value)}`, {}, {});
      }
    }
  }

  private store(body: Lease): Lease {
    this.stored = structuredClone({ ...body, metadata: { ...body.metadata, resourceVersion: String(++this.version) } });
    return structuredClone(this.stored);
  }
}

/** One candidate's connection to the server; its network can be made to fail or hang. */
class FakeLeaseClient implements LeaseApi {
  network: 'ok' | 'fail' | 'hang' = 'ok';
  afterRead: (() => void) | undefined;

  constructor(private readonly server: FakeLeaseServer) {}

  async readNamespacedLease(p: { name: string; namespace: string }): Promise<Lease> {
    await this.transport();
    const result = this.server.read(p.name, p.namespace);
    this.afterRead?.();
    return result;
  }

  async createNamespacedLease(p: { namespace: string; body: Lease }): Promise<Lease> {
    await this.transport();
    return this.server.create(p.namespace, p.body);
  }

  async replaceNamespacedLease(p: { name: string; namespace: string; body: Lease }): Promise<Lease> {
    await this.transport();
    return this.server.replace(p.name, p.namespace, p.body);
  }

  private async transport(): Promise<void> {
    if (this.network === 'fail') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    if (this.network === 'hang') await new Promise(() => {});
  }
}

interface Candidate {
  elector: LeaderElector;
  client: FakeLeaseClient;
  done: Promise<void>;
}

describe('LeaderElector', function () {
  this.timeout(2000); // a broken elector tends to hang rather than throw
  let clock: FakeClock;
  let server: FakeLeaseServer;
  let events: string[];
  let candidates: Candidate[];

  beforeEach(() => {
    clock = new FakeClock();
    server = new FakeLeaseServer();
    events = [];
    candidates = [];
  });

  afterEach(async () => {
    await Promise.all(candidates.map((c) => c.elector.stop()));
  });

  function candidate(identity: string, onStopped?: (reason: StopReason) => void): Candidate {
    const client = server.client();
    const elector = new LeaderElector({
      api: client,
      namespace: NAMESPACE,
      name: NAME,
      identity,
      clock,
      onStartedLeading: () => {
        events.push(`${identity} started @${clock.elapsed()}`);
        return new Promise(() => {}); // runs for as long as it leads; must not block renewals
      },
      onStoppedLeading: (reason) => {
        events.push(`${identity} stopped (${reason}) @${clock.elapsed()}`);
        onStopped?.(reason);
      },
    });
    const c = { elector, client, done: elector.start() };
    candidates.push(c);
    return c;
  }

  async function isSettled(p: Promise<void>): Promise<boolean> {
    let settled = false;
    void p.then(() => (settled = true));
    await flush();
    return settled;
  }

  /** Steps through time one second at a time, checking that the two never both lead. */
  async function runUntil(ms: number, a: Candidate, b: Candidate): Promise<void> {
    for (let t = clock.elapsed() + 1000; t <= ms; t += 1000) {
      await clock.advanceTo(t);
      assert.ok(!(a.elector.isLeader() && b.elector.isLeader()), `both lead at ${t} ms`);
    }
  }

  it('of two candidates started together, exactly one leads and keeps renewing', async () => {
    const a = candidate('a');
    const b = candidate('b');
    await clock.advanceTo(0);
    assert.equal(server.conflicts, 1, 'the loser of the create race got 409 AlreadyExists');
    const [leader, follower] = a.elector.isLeader() ? [a, b] : [b, a];
    assert.ok(leader.elector.isLeader() && !follower.elector.isLeader());

    await runUntil(60_000, a, b);
    assert.ok(leader.elector.isLeader());
    assert.equal(events.length, 1, events.join('; '));
    assert.equal(server.lease?.spec?.leaseTransitions, 0);
    assert.equal(server.lease?.spec?.renewTime, toMicroTime(T0 + 60_000));
  });

  for (const network of ['fail', 'hang'] as const) {
    it(`when the leader's requests ${network}, it steps down at the renew deadline and the other takes over only after the lease duration`, async () => {
      const a = candidate('a');
      await clock.advanceTo(0);
      const b = candidate('b');
      await runUntil(10_000, a, b); // a's last successful renew is at 10 s
      assert.ok(a.elector.isLeader());

      a.client.network = network;
      await runUntil(19_000, a, b);
      assert.ok(a.elector.isLeader(), 'a keeps leading while within its renew deadline');
      await runUntil(20_000, a, b);
      assert.ok(!a.elector.isLeader());
      assert.ok(await isSettled(a.done), 'the loop ends once leadership is lost');

      await runUntil(25_000, a, b);
      assert.ok(!b.elector.isLeader(), 'a lease renewed at 10 s is valid until 25 s');
      await runUntil(27_000, a, b);
      assert.ok(b.elector.isLeader());
      assert.deepEqual(events, ['a started @0', 'a stopped (lost) @20000', 'b started @26000']);
      assert.equal(server.lease?.spec?.holderIdentity, 'b');
      assert.equal(server.lease?.spec?.leaseTransitions, 1);
    });
  }

  it('a takeover written with a stale resourceVersion gets 409 and does not make the candidate leader', async () => {
    server.put({ holderIdentity: 'old', leaseDurationSeconds: 15, renewTime: toMicroTime(T0 - 60_000), leaseTransitions: 2 });
    const client = server.client();
    // Between a's read (expired lease) and its takeover write, b takes the lease over.
    client.afterRead = () => {
      client.afterRead = undefined;
      server.put({ holderIdentity: 'b', leaseDurationSeconds: 15, renewTime: toMicroTime(clock.now()), leaseTransitions: 3 });
    };
    const a = new LeaderElector({
      api: client,
      namespace: NAMESPACE,
      name: NAME,
      identity: 'a',
      clock,
      onStartedLeading: () => void events.push('a started'),
      onStoppedLeading: () => void events.push('a stopped'),
    });
    candidates.push({ elector: a, client, done: a.start() });

    await clock.advanceTo(0);
    assert.equal(server.conflicts, 1);
    assert.ok(!a.isLeader());
    await clock.advanceTo(6000);
    assert.ok(!a.isLeader(), "b's fresh lease is respected on the next rounds");
    assert.deepEqual(events, []);
    assert.equal(server.lease?.spec?.holderIdentity, 'b');
  });

  it('a leader that observes another holder steps down at once, without waiting for its deadline', async () => {
    const a = candidate('a');
    await clock.advanceTo(3000);
    server.put({ holderIdentity: 'b', leaseDurationSeconds: 15, renewTime: toMicroTime(clock.now()), leaseTransitions: 1 });
    await clock.advanceTo(4000);
    assert.ok(!a.elector.isLeader());
    assert.deepEqual(events, ['a started @0', 'a stopped (lost) @4000']);
    assert.equal(server.lease?.spec?.holderIdentity, 'b', 'a must not overwrite the new holder');
  });

  it('isLeader() turns false at the renew deadline even if the loop has not run since', async () => {
    const a = candidate('a');
    await clock.advanceTo(4000); // last renew at 4 s
    clock.jumpTo(13_999);
    assert.ok(a.elector.isLeader());
    clock.jumpTo(14_000);
    assert.ok(!a.elector.isLeader());
  });

  it('stop() stops leading, then releases the lease, and the other candidate acquires it on its next retry', async () => {
    let holderWhenStopped: string | undefined;
    const a = candidate('a', () => (holderWhenStopped = server.lease?.spec?.holderIdentity));
    await clock.advanceTo(0);
    const b = candidate('b');
    await runUntil(5000, a, b);

    await a.elector.stop();
    assert.ok(!a.elector.isLeader());
    assert.ok(await isSettled(a.done));
    assert.equal(holderWhenStopped, 'a', 'onStoppedLeading runs before the release');
    assert.equal(server.lease?.spec?.holderIdentity, '');
    assert.equal(server.lease?.spec?.leaseDurationSeconds, 1);

    await clock.advanceTo(6000); // b's next retry, far sooner than the 15 s lease duration
    assert.ok(b.elector.isLeader());
    assert.deepEqual(events, ['a started @0', 'a stopped (stopped) @5000', 'b started @6000']);
    assert.equal(server.lease?.spec?.leaseTransitions, 1);
  });

  it('stop() does not wait for hung requests: it abandons the round and bounds the release', async () => {
    const a = candidate('a');
    await clock.advanceTo(2000);
    a.client.network = 'hang';
    await clock.advanceTo(4000); // a renew round is now in flight, and never returns
    const stopped = a.elector.stop();
    await clock.advanceTo(13_999);
    assert.ok(!(await isSettled(stopped)), 'the release may take up to the renew deadline');
    await clock.advanceTo(14_000);
    assert.ok(await isSettled(stopped));
    assert.deepEqual(events, ['a started @0', 'a stopped (stopped) @4000']);
  });

  it('stop() on a candidate that never led writes nothing', async () => {
    candidate('a');
    await clock.advanceTo(0);
    const b = candidate('b');
    await clock.advanceTo(1000);
    const before = server.lease;
    await b.elector.stop();
    assert.deepEqual(server.lease, before);
    assert.deepEqual(events, ['a started @0']);
  });

  it('with the system clock, leads at once and stop() releases promptly', async () => {
    const client = server.client();
    let led!: () => void;
    const leading = new Promise<void>((resolve) => (led = resolve));
    const elector = new LeaderElector({
      api: client,
      namespace: NAMESPACE,
      name: NAME,
      identity: 'a',
      clock: systemClock,
      options: { leaseDurationSeconds: 1, renewDeadlineMs: 50, retryPeriodMs: 5 },
      onStartedLeading: led,
      onStoppedLeading: () => {},
    });
    const done = elector.start();
    await leading;
    assert.ok(elector.isLeader());
    await elector.stop();
    await done;
    assert.equal(server.lease?.spec?.holderIdentity, '');
  });
});
