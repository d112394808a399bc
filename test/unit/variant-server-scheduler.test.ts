// The scheduler with a fake graph whose output row i is 10 * input row i, so the split is checkable.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Scheduler, SchedulerSaturatedError, sliceRows, type SchedulerGraph } from '../../variant-server/scheduler.js';

interface Recorder {
  graph: SchedulerGraph;
  runs: number[];
  /** Resolves the run in progress, when `manual`. */
  release(): void;
}

function fakeGraph(key: string, width: number, manual = false): Recorder {
  const runs: number[] = [];
  let release = () => {};
  const graph: SchedulerGraph = {
    key,
    inputWidth: width,
    async run(data, rows) {
      runs.push(rows);
      if (manual)
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      return { out: data.map((x) => x * 10), first: data.filter((_, i) => i % width === 0) };
    },
  };
  return { graph, runs, release: () => release() };
}

const rows = (n: number, width: number, start: number) => Float32Array.from({ length: n * width }, (_, i) => start + i);

describe('variant server scheduler', () => {
  it('runs each request alone when batching is off', async () => {
    const fake = fakeGraph('g', 2);
    const scheduler = new Scheduler({ batching: false, batchWindowMs: 1, maxBatch: 32 });
    const results = await Promise.all([scheduler.submit(fake.graph, rows(1, 2, 0), 1), scheduler.submit(fake.graph, rows(2, 2, 100), 2)]);
    assert.deepEqual(fake.runs, [1, 2]);
    assert.deepEqual(Array.from(results[1]!.out!), [1000, 1010, 1020, 1030]);
  });

  it('refuses new requests at once while maxQueued are waiting, and accepts again once they run', async () => {
    const fake = fakeGraph('g', 1, true);
    const scheduler = new Scheduler({ batching: false, batchWindowMs: 0, maxBatch: 32, maxQueued: 2 });
    const first = scheduler.submit(fake.graph, rows(1, 1, 0), 1);
    const second = scheduler.submit(fake.graph, rows(1, 1, 1), 1);
    await sleep(1);
    assert.equal(scheduler.queueDepth, 1, 'the first runs, the second waits');
    const third = scheduler.submit(fake.graph, rows(1, 1, 2), 1);
    assert.equal(scheduler.queueDepth, 2);
    await assert.rejects(scheduler.submit(fake.graph, rows(1, 1, 3), 1), (error: unknown) =>
      error instanceof SchedulerSaturatedError && /2 requests are already waiting for the model \(max-queued 2\); retry later/.test(error.message));
    assert.equal(scheduler.queueDepth, 2, 'a refused request is not counted');
    for (let i = 0; i < 3; i++) {
      fake.release();
      await sleep(1);
    }
    await Promise.all([first, second, third]);
    assert.equal(scheduler.queueDepth, 0);
    const again = scheduler.submit(fake.graph, rows(1, 1, 4), 1);
    await sleep(1);
    fake.release();
    assert.deepEqual(Array.from((await again).out!), [40]);
  });

  it('merges requests arriving within the window and splits the outputs back', async () => {
    const fake = fakeGraph('g', 2);
    const batches: Array<[number, number]> = [];
    const scheduler = new Scheduler({ batching: true, batchWindowMs: 5, maxBatch: 32, onRun: (_key, r, n) => batches.push([r, n]) });
    const pending = [
      scheduler.submit(fake.graph, rows(1, 2, 0), 1),
      scheduler.submit(fake.graph, rows(3, 2, 10), 3),
      scheduler.submit(fake.graph, rows(1, 2, 50), 1),
    ];
    assert.equal(scheduler.queueDepth, 3);
    const [a, b, c] = await Promise.all(pending);
    assert.deepEqual(fake.runs, [5]);
    assert.deepEqual(batches, [[5, 3]]);
    assert.equal(scheduler.queueDepth, 0);
    assert.deepEqual(Array.from(a!.out!), [0, 10]);
    assert.deepEqual(Array.from(b!.out!), [100, 110, 120, 130, 140, 150]);
    assert.deepEqual(Array.from(b!.first!), [10, 12, 14]);
    assert.deepEqual(Array.from(c!.out!), [500, 510]);
  });

  it('closes a batch at maxBatch rows and never mixes graphs', async () => {
    const g1 = fakeGraph('g1', 1);
    const g2 = fakeGraph('g2', 1);
    const scheduler = new Scheduler({ batching: true, batchWindowMs: 5, maxBatch: 4 });
    const pending = [];
    for (let i = 0; i < 6; i++) pending.push(scheduler.submit(g1.graph, rows(1, 1, i), 1));
    pending.push(scheduler.submit(g2.graph, rows(1, 1, 99), 1));
    pending.push(scheduler.submit(g1.graph, rows(5, 1, 200), 5));
    const results = await Promise.all(pending);
    assert.deepEqual(g1.runs, [4, 2, 5]);
    assert.deepEqual(g2.runs, [1]);
    assert.deepEqual(
      results.slice(0, 6).map((r) => r.out![0]),
      [0, 10, 20, 30, 40, 50],
    );
    assert.deepEqual(Array.from(results[7]!.out!), [2000, 2010, 2020, 2030, 2040]);
  });

  it('lets requests join a batch that is still waiting behind a running one', async () => {
    const fake = fakeGraph('g', 1, true);
    const scheduler = new Scheduler({ batching: true, batchWindowMs: 1, maxBatch: 8 });
    const first = scheduler.submit(fake.graph, rows(1, 1, 0), 1);
    await sleep(10);
    assert.deepEqual(fake.runs, [1]);
    const later = [1, 2, 3].map((i) => scheduler.submit(fake.graph, rows(1, 1, i), 1));
    await sleep(10);
    const more = scheduler.submit(fake.graph, rows(1, 1, 4), 1);
    assert.equal(scheduler.queueDepth, 4);
    fake.release();
    await first;
    await sleep(1);
    fake.release();
    const results = await Promise.all([...later, more]);
    assert.deepEqual(fake.runs, [1, 4]);
    assert.deepEqual(
      results.map((r) => r.out![0]),
      [10, 20, 30, 40],
    );
  });

  it('rejects every request of a failed batch and keeps going', async () => {
    let fail = true;
    const graph: SchedulerGraph = {
      key: 'g',
      inputWidth: 1,
      async run(data) {
        if (fail) throw new Error('session exploded');
        return { out: data };
      },
    };
    const scheduler = new Scheduler({ batching: true, batchWindowMs: 1, maxBatch: 8 });
    const failed = await Promise.allSettled([scheduler.submit(graph, rows(1, 1, 0), 1), scheduler.submit(graph, rows(1, 1, 1), 1)]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fail = false;
    assert.deepEqual(Array.from((await scheduler.submit(graph, rows(1, 1, 7), 1)).out!), [7]);
    assert.equal(scheduler.queueDepth, 0);
  });

  it('slices row ranges of every output', () => {
    const sliced = sliceRows({ a: new Float32Array([1, 2, 3, 4, 5, 6]), b: new Float32Array([7, 8, 9]) }, 3, 1, 2);
    assert.deepEqual(Array.from(sliced.a!), [3, 4, 5, 6]);
    assert.deepEqual(Array.from(sliced.b!), [8, 9]);
  });
});
