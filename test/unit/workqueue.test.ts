import assert from 'node:assert/strict';
import { WorkQueue, type HandlerResult, type WorkQueueOptions } from '../../operator/workqueue.js';

class FakeClock {
  private time = 0;
  private seq = 0;
  private timers: Array<{ at: number; seq: number; fn: () => void }> = [];
  readonly scheduled: number[] = [];

  now = (): number => this.time;

  setTimer = (fn: () => void, ms: number): (() => void) => {
    const timer = { at: this.time + ms, seq: this.seq++, fn };
    this.timers.push(timer);
    this.scheduled.push(ms);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  };

  get pending(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.fn();
    }
    this.time = target;
  }

  async tick(ms: number): Promise<void> {
    this.advance(ms);
    await settle();
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function tracked(promise: Promise<void>): { settled: () => boolean } {
  let settled = false;
  void promise.then(() => (settled = true));
  return { settled: () => settled };
}

describe('WorkQueue', () => {
  let clock: FakeClock;
  let queues: WorkQueue[];

  const make = (options: WorkQueueOptions = {}): WorkQueue => {
    const q = new WorkQueue({ now: clock.now, setTimer: clock.setTimer, ...options });
    queues.push(q);
    return q;
  };

  beforeEach(() => {
    clock = new FakeClock();
    queues = [];
  });

  afterEach(() => {
    for (const q of queues) q.shutDown();
  });

  it('merges duplicate adds of a waiting key and processes in FIFO order', async () => {
    const q = make();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    assert.equal(q.length, 2);

    const seen: string[] = [];
    void q.run(1, async (key) => {
      seen.push(key);
      return 'done';
    });
    await settle();
    assert.deepEqual(seen, ['ns/a', 'ns/b']);
    assert.equal(q.length, 0);
  });

  it('never processes one key concurrently and re-queues a key added while in flight once', async () => {
    const q = make();
    const gate = deferred();
    const seen: string[] = [];
    let activeA = 0;
    let maxActiveA = 0;
    void q.run(4, async (key) => {
      seen.push(key);
      if (key !== 'a') return 'done';
      activeA++;
      maxActiveA = Math.max(maxActiveA, activeA);
      if (seen.filter((k) => k === 'a').length === 1) await gate.promise;
      activeA--;
      return 'done';
    });

    q.add('a');
    await settle();
    assert.equal(q.inFlight, 1);

    q.add('a');
    q.add('a');
    q.add('b');
    await settle();
    assert.deepEqual(seen, ['a', 'b'], 'idle workers must not pick up the in-flight key');
    assert.equal(q.length, 0, 'dirty key is not waiting while in flight');
    assert.equal(q.inFlight, 1);

    gate.resolve();
    await settle();
    assert.deepEqual(seen, ['a', 'b', 'a'], 'dirty key is processed exactly once more');
    assert.equal(maxActiveA, 1);
    assert.equal(q.inFlight, 0);
    assert.equal(q.length, 0);
  });

  it('backs off per key 5, 10, 20, ... ms capped at 1000 s by default', () => {
    const q = make();
    const expected: number[] = [];
    for (let i = 0; i < 22; i++) {
      q.addRateLimited('a');
      expected.push(Math.min(5 * 2 ** i, 1_000_000));
      assert.equal(q.numRequeues('a'), i + 1);
      clock.advance(clock.scheduled.at(-1)!);
    }
    assert.deepEqual(clock.scheduled, expected);
    assert.deepEqual(expected.slice(0, 4), [5, 10, 20, 40]);
    assert.equal(expected.at(-1), 1_000_000);
    assert.equal(q.length, 1);
  });

  it('honours custom base and max delays and keeps failure counts per key', () => {
    const q = make({ baseDelayMs: 100, maxDelayMs: 350 });
    for (const key of ['a', 'a', 'b', 'a', 'a']) {
      q.addRateLimited(key);
      clock.advance(clock.scheduled.at(-1)!);
    }
    assert.deepEqual(clock.scheduled, [100, 200, 100, 350, 350]);
    assert.equal(q.numRequeues('a'), 4);
    assert.equal(q.numRequeues('b'), 1);
  });

  it('forget resets the failure count and the backoff', () => {
    const q = make();
    for (let i = 0; i < 3; i++) {
      q.addRateLimited('a');
      clock.advance(clock.scheduled.at(-1)!);
    }
    assert.equal(q.numRequeues('a'), 3);
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
    q.addRateLimited('a');
    assert.deepEqual(clock.scheduled, [5, 10, 20, 5]);
  });

  it('limits bursts across keys with the token bucket and uses the larger of the two delays', () => {
    const q = make({ qps: 10, burst: 2 });
    for (const key of ['k1', 'k2', 'k3', 'k4']) q.addRateLimited(key);
    assert.deepEqual(clock.scheduled, [5, 5, 100, 200]);

    clock.advance(1000);
    q.addRateLimited('k1');
    q.addRateLimited('k5');
    q.addRateLimited('k6');
    assert.deepEqual(clock.scheduled.slice(4), [10, 5, 100]);
  });

  it('default token bucket allows a burst of 100 and then 10 per second', () => {
    const q = make();
    for (let i = 0; i < 102; i++) q.addRateLimited(`k${i}`);
    assert.ok(clock.scheduled.slice(0, 100).every((ms) => ms === 5));
    assert.deepEqual(clock.scheduled.slice(100), [100, 200]);
  });

  it('addAfter keeps the earliest pending delay for a key', async () => {
    const q = make();
    const seen: string[] = [];
    void q.run(1, async (key) => {
      seen.push(key);
      return 'done';
    });

    q.addAfter('a', 1000);
    q.addAfter('a', 100);
    q.addAfter('b', 100);
    q.addAfter('b', 1000);
    assert.equal(clock.pending, 2, 'the superseded later timer for a is cancelled');
    await clock.tick(99);
    assert.deepEqual(seen, []);
    await clock.tick(1);
    assert.deepEqual(seen.sort(), ['a', 'b']);
    await clock.tick(5000);
    assert.equal(seen.length, 2);

    q.addAfter('c', 0);
    await settle();
    assert.deepEqual(seen.slice(2), ['c']);
  });

  it('requeues a throwing handler with backoff, calls onError, and forgets on success', async () => {
    const errors: Array<[string, unknown]> = [];
    const q = make({ onError: (key, err) => errors.push([key, err]) });
    const boom = new Error('boom');
    let calls = 0;
    void q.run(2, async () => {
      calls++;
      if (calls < 3) throw boom;
      return 'done';
    });

    q.add('a');
    await settle();
    assert.equal(calls, 1);
    assert.deepEqual(errors, [['a', boom]]);
    assert.equal(q.numRequeues('a'), 1);
    assert.equal(q.length, 0);

    await clock.tick(4);
    assert.equal(calls, 1);
    await clock.tick(1);
    assert.equal(calls, 2);
    assert.equal(q.numRequeues('a'), 2);

    await clock.tick(10);
    assert.equal(calls, 3);
    assert.equal(errors.length, 2);
    assert.equal(q.numRequeues('a'), 0);
    assert.deepEqual(clock.scheduled, [5, 10]);
  });

  it("maps 'requeue' to backoff and requeueAfterMs to forget plus a fixed delay", async () => {
    const q = make();
    const results: HandlerResult[] = ['requeue', 'requeue', { requeueAfterMs: 500 }, 'done'];
    let calls = 0;
    void q.run(1, async () => results[calls++]!);

    q.add('a');
    await settle();
    assert.equal(q.numRequeues('a'), 1);
    await clock.tick(5);
    assert.equal(q.numRequeues('a'), 2);
    await clock.tick(10);
    assert.equal(calls, 3);
    assert.equal(q.numRequeues('a'), 0);
    await clock.tick(499);
    assert.equal(calls, 3);
    await clock.tick(1);
    assert.equal(calls, 4);
    assert.deepEqual(clock.scheduled, [5, 10, 500]);
  });

  it('shutDownAndDrain waits for in-flight handlers before resolving', async () => {
    const q = make();
    const gate = deferred();
    const run = tracked(
      q.run(2, async () => {
        await gate.promise;
        return 'done';
      }),
    );
    q.add('a');
    q.add('b');
    await settle();
    assert.equal(q.inFlight, 2);

    const drain = tracked(q.shutDownAndDrain());
    await settle();
    assert.equal(drain.settled(), false);
    assert.equal(run.settled(), false);

    gate.resolve();
    await settle();
    assert.equal(drain.settled(), true);
    assert.equal(run.settled(), true);
    assert.equal(q.inFlight, 0);
  });

  it('shutDown stops taking keys, ignores new adds and cancels pending delays', async () => {
    const q = make();
    const gate = deferred();
    const seen: string[] = [];
    const run = tracked(
      q.run(1, async (key) => {
        seen.push(key);
        await gate.promise;
        return 'requeue';
      }),
    );
    q.add('a');
    q.add('b');
    q.addAfter('x', 100);
    await settle();
    assert.equal(clock.pending, 1);

    q.shutDown();
    assert.equal(clock.pending, 0);
    q.add('c');
    q.addAfter('d', 10);
    q.addRateLimited('e');
    assert.equal(q.length, 1);
    assert.equal(clock.pending, 0);

    gate.resolve();
    await settle();
    await clock.tick(10_000);
    assert.equal(run.settled(), true);
    assert.deepEqual(seen, ['a']);
    assert.equal(clock.pending, 0, 'a requeue after shutdown schedules nothing');
  });

  it('run resolves promptly when shut down while idle', async () => {
    const q = make();
    const run = tracked(q.run(3, async () => 'done'));
    await settle();
    assert.equal(run.settled(), false);
    q.shutDown();
    await settle();
    assert.equal(run.settled(), true);
    await q.shutDownAndDrain();
  });

  it('rejects an invalid concurrency', async () => {
    await assert.rejects(make().run(0, async () => 'done'), RangeError);
  });
});
