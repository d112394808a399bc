// Load generators for bench/router.ts over undici keep-alive pools: an open loop that sends at a
// fixed rate whatever the answers do (so queueing shows up in the latencies), a closed loop of N
// clients, and single requests that return the parsed answer.
import { nearestRank } from '../common/stats.js';
import { cpuMicros } from '../common/process-cpu.js';
import { Pool } from 'undici';

export { cpuMicros };

/** One HTTP endpoint and the request bodies to cycle through. */
export interface Target {
  name: string;
  pool: Pool;
  path: string;
  bodies: readonly string[];
}

const HEADERS = { 'content-type': 'application/json' };

export function target(name: string, origin: string, path: string, bodies: readonly string[], connections = 256): Target {
  return { name, pool: new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 }), path, bodies };
}

export function sorted(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(ascending: Float64Array, p: number): number {
  return nearestRank(ascending, p / 100);
}

export function clientCpuMicros(since?: NodeJS.CpuUsage): number {
  const usage = process.cpuUsage(since);
  return usage.user + usage.system;
}

/** A command-line number that must be positive; the error names the flag. */
export function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number, got "${value}"`);
  return n;
}

/** Waits until none of `pids` uses more than 10% of a core (the previous run's backlog is gone). */
export async function settleCpu(pids: number[], maxMs = 5000): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (performance.now() < deadline) {
    const before = pids.map(cpuMicros);
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (pids.every((pid, i) => cpuMicros(pid) - before[i]! < 25_000)) return;
  }
}

/** CPU microseconds each process spends from now until the returned function is called. */
export function startCpuMeter(variantPid: number, forwarderPid: number | undefined): () => { variant: number; forwarder: number | undefined; client: number } {
  const variantBefore = cpuMicros(variantPid);
  const forwarderBefore = forwarderPid ? cpuMicros(forwarderPid) : 0;
  const clientBefore = process.cpuUsage();
  return () => ({
    variant: cpuMicros(variantPid) - variantBefore,
    forwarder: forwarderPid ? cpuMicros(forwarderPid) - forwarderBefore : undefined,
    client: clientCpuMicros(clientBefore),
  });
}

async function send(t: Target, body: string): Promise<{ status: number; text: string }> {
  const response = await t.pool.request({ method: 'POST', path: t.path, headers: HEADERS, body });
  return { status: response.statusCode, text: await response.body.text() };
}

export interface OpenLoopResult {
  scheduled: number;
  completed: number;
  failed: number;
  /** Sends dispatched more than `lateMs` after their scheduled time (the generator fell behind). */
  late: number;
  lateMsP99: number;
  /** Answers still missing when the drain timeout ran out (counted in failed too). */
  unanswered: number;
  seconds: number;
  /** Dispatch to last response byte, successful requests only. */
  latenciesMs: number[];
}

export interface OpenLoopOptions {
  rate: number;
  durationMs: number;
  lateMs?: number;
  drainMs?: number;
}

/**
 * Sends request i at start + i / rate, not waiting for answers. Timers fire on millisecond
 * boundaries, so at high rates a tick sends the few requests that have come due together.
 */
export function openLoop(t: Target, options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { rate, durationMs } = options;
  const lateMs = options.lateMs ?? 2;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const intervalMs = 1000 / rate;
  const latenciesMs: number[] = [];
  const lateness: number[] = [];
  let failed = 0;
  let answered = 0;
  let next = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (drainTimer) clearTimeout(drainTimer);
      const unanswered = total - answered;
      const late = lateness.filter((ms) => ms > lateMs).length;
      resolve({
        scheduled: total,
        completed: latenciesMs.length,
        failed: failed + unanswered,
        late,
        lateMsP99: percentile(sorted(lateness), 99),
        unanswered,
        seconds: (performance.now() - start) / 1000,
        latenciesMs,
      });
    };
    const settle = () => {
      answered += 1;
      if (answered === total) finish();
    };
    const dispatch = (i: number, now: number) => {
      lateness.push(now - (start + i * intervalMs));
      send(t, t.bodies[i % t.bodies.length]!).then(
        ({ status }) => {
          if (status === 200) latenciesMs.push(performance.now() - now);
          else failed += 1;
          settle();
        },
        () => {
          failed += 1;
          settle();
        },
      );
    };
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * intervalMs <= now) dispatch(next++, now);
      if (next < total) setTimeout(tick, start + next * intervalMs - performance.now());
      else drainTimer = setTimeout(finish, options.drainMs ?? 10_000);
    };
    tick();
  });
}

export interface ClosedLoopResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

/** `concurrency` clients, each sending its next request as soon as the last one is answered. */
export async function closedLoop(t: Target, concurrency: number, durationMs: number): Promise<ClosedLoopResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      for (let i = client; performance.now() < end; i += concurrency) {
        const sent = performance.now();
        try {
          const { status } = await send(t, t.bodies[i % t.bodies.length]!);
          if (status === 200) latenciesMs.push(performance.now() - sent);
          else errors += 1;
        } catch {
          errors += 1;
        }
      }
    }),
  );
  return { requests: latenciesMs.length + errors, errors, seconds: (performance.now() - start) / 1000, latenciesMs };
}

/** One request; the parsed JSON answer and the client-side latency. */
export async function timedJson<T>(t: Target, body: string): Promise<{ ms: number; status: number; answer: T | undefined }> {
  const started = performance.now();
  const { status, text } = await send(t, body);
  const ms = performance.now() - started;
  return { ms, status, answer: status === 200 ? (JSON.parse(text) as T) : undefined };
}
