import { strict as assert } from 'node:assert';
import { coalesced } from '../../router-sidecar/coalesced.js';

/** A task whose runs finish when the test says so; each run records what it read at its start. */
function controlledTask() {
  let input = 0;
  const runs: { read: number; finish: () => void; fail: (e: Error) => void }[] = [];
  const task = () =>
    new Promise<number>((resolve, reject) => {
      const read = input;
      runs.push({ read, finish: () => resolve(read), fail: reject });
    });
  return { task, runs, setInput: (value: number) => { input = value; } };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('coalesced reloads', () => {
  it('a request during a run gets one more run that reads the newer input, shared by everyone who asked meanwhile', async () => {
    const { task, runs, setInput } = controlledTask();
    const reload = coalesced(task);
    const first = reload();
    assert.equal(runs.length, 1);
    setInput(2); // the config file changes while the first run already read it
    const second = reload();
    const third = reload();
    assert.equal(second, third, 'callers during a run share the follow-up run');
    assert.equal(runs.length, 1, 'no second run while the first is in progress');
    runs[0]!.finish();
    assert.equal(await first, 0);
    await tick();
    assert.equal(runs.length, 2, 'one follow-up run, not one per caller');
    assert.equal(runs[1]!.read, 2);
    runs[1]!.finish();
    assert.equal(await second, 2);
    const idle = reload();
    assert.equal(runs.length, 3, 'asked while idle, it runs at once');
    runs[2]!.finish();
    assert.equal(await idle, 2);
  });

  it('a failed run still lets the queued one run, and its failure reaches only its own callers', async () => {
    const { task, runs } = controlledTask();
    const reload = coalesced(task);
    const first = reload();
    const queued = reload();
    runs[0]!.fail(new Error('bad config'));
    await assert.rejects(first, /bad config/);
    await tick();
    assert.equal(runs.length, 2);
    runs[1]!.finish();
    assert.equal(await queued, 0);
  });
});
