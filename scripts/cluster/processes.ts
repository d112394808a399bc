// Starts the control plane's processes detached (they outlive `npm run cluster:up`) and stops
// exactly those: a PID is only signalled while /proc still shows the binary we started under it.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOG_DIR } from './paths.js';

export interface StartedProcess {
  name: string;
  pid: number;
  binary: string;
  args: string[];
  log: string;
}

export function startDetached(name: string, binary: string, args: string[]): StartedProcess {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = path.join(LOG_DIR, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${binary})`);
  child.unref();
  return { name, pid: child.pid, binary, args, log };
}

export function isRunning(proc: StartedProcess): boolean {
  try {
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
    const zombie = / Z /.test(stat.slice(stat.lastIndexOf(')')));
    return !zombie && cmdline.split('\0')[0] === proc.binary;
  } catch {
    return false;
  }
}

export async function stopProcess(proc: StartedProcess, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!isRunning(proc)) return;
  process.kill(proc.pid, signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(proc)) return;
    await sleep(100);
  }
  if (isRunning(proc)) process.kill(proc.pid, 'SIGKILL');
}

export function tailLog(proc: StartedProcess, lines = 20): string {
  try {
    return readFileSync(proc.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
