import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import { eventually } from '../support/eventually.js';

/** Running, not merely unreaped: an orphan's zombie lingers until init collects it. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  const state = readFileSync(stat, 'utf8').split(') ')[1]?.[0];
  return state !== 'Z' && state !== 'X';
};

describe('local cascade runners (evaluate, benches, demo) interrupted', function () {
  this.timeout(90_000);

  for (const [signal, exitCode] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal}: the runner exits ${exitCode} and leaves none of its servers running`, async () => {
      const runner = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/interrupted-cascade.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      const pids = await new Promise<number[]>((resolve, reject) => {
        let buffer = '';
        runner.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString('utf8');
          if (buffer.includes('\n')) resolve((JSON.parse(buffer.slice(0, buffer.indexOf('\n'))) as { pids: number[] }).pids);
        });
        runner.once('exit', (code) => reject(new Error(`the runner exited (${code}) before its cascade was ready`)));
      });
      assert.equal(pids.length, 5);
      assert.ok(pids.every(alive), 'every server runs before the signal');
      const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
      runner.kill(signal);
      assert.equal(await exited, exitCode);
      await eventually(() => assert.deepEqual(pids.filter(alive), []), { timeoutMs: 10_000, intervalMs: 100 });
    });
  }
});
