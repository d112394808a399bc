// Replays a trace through a queueing model of this machine, so a policy can be trained and
// compared without live servers.
//
// Model. Every process (load generator, router, one per variant) is a single-threaded FIFO
// server; the busy ones share `cores` CPUs equally (processor sharing), which is what makes a
// heavy variant slow everyone down on a 2-core box. A request costs: generator send (half its
// CPU), router inbound (half the router's CPU), the policy's choice, the variant's service time,
// router outbound, generator receive. Service times are the measured CPU per request of each
// process, with the shape of the measured one-client latency distribution; the part of that
// latency no process accounts for (loopback, scheduling) is added as a pure delay.
//
// The router's view of load comes from the router's own LoadTracker fed with the simulated clock
// (in-flight counts, EWMA latency), and variant queue depths scraped every 2 s like the router does,
// so the features the policy sees in training are computed by the code that computes them in
// production.
import { ROLES, type Role, type SlaSpec } from '../../crds/types.js';
import { LoadTracker } from '../../router-sidecar/load/load-tracker.js';
import type { PolicyInput } from '../../router-sidecar/policy/policy.js';
import { nearestRank } from '../../common/stats.js';
import { seededRandom, type Random } from '../../common/random.js';
import type { ServiceProfile, TraceRows } from './trace.js';

export interface VariantService {
  /** Mean CPU time of one request in the variant's process. */
  cpuMs: number;
  /** Multipliers of cpuMs, from the measured one-client latency distribution (median = 1). */
  shape: readonly number[];
  /** Latency not spent in any modelled process. */
  delayMs: number;
}

export interface ServiceModel {
  cores: number;
  clientCpuMs: number;
  routerCpuMs: number;
  variants: Record<Role, VariantService>;
  /**
   * Set when the router answers distilled itself (policy.distilledInRouter): the router's CPU for
   * one run of its distilled copy; a distilled request then never reaches the distilled server.
   */
  distilledInRouterCpuMs?: number;
}

const SHAPE_POINTS = 200;

/**
 * Builds the queueing model's parameters from a measured service profile; with
 * `distilledInRouter` it models a router that answers distilled itself, at the profile's
 * in-process distilled CPU (the traces store it: ./traces.ts).
 */
export function serviceModel(profile: ServiceProfile, distilledInRouter = false): ServiceModel {
  const distilledInRouterCpuMs = distilledInRouter ? profile.distilledInProcessCpuMs : undefined;
  if (distilledInRouter && distilledInRouterCpuMs === undefined) throw new Error('the service profile has no distilledInProcessCpuMs: load the traces with loadOrRecordTraces');
  const variants = {} as Record<Role, VariantService>;
  let clientCpuMs = 0;
  for (const role of ROLES) {
    const levels = profile.variants[role];
    const single = levels.find((l) => l.concurrency === 1) ?? levels[0]!;
    const busiest = levels.reduce((a, b) => (b.concurrency > a.concurrency ? b : a));
    // CPU per request is most accurate where the server is busiest (fixed costs amortised the same way as under load).
    const cpuMs = busiest.cpuMsPerRequest;
    const median = nearestRank(single.latencyMs, 0.5);
    const shape = Array.from({ length: SHAPE_POINTS }, (_, i) => nearestRank(single.latencyMs, (i + 0.5) / SHAPE_POINTS) / median);
    variants[role] = { cpuMs, shape, delayMs: Math.max(0, median - cpuMs - single.clientCpuMsPerRequest) };
    clientCpuMs = Math.max(clientCpuMs, busiest.clientCpuMsPerRequest);
  }
  return {
    cores: profile.machine.cpus,
    clientCpuMs,
    routerCpuMs: profile.router.cpuMsPerRequest,
    variants,
    ...(distilledInRouterCpuMs !== undefined ? { distilledInRouterCpuMs } : {}),
  };
}

export type ArrivalPattern = 'steady' | 'bursty';

/** Bursty traffic alternates 500 ms phases at 1.75x and 0.25x the mean rate (a square wave of Poisson arrivals). */
export const BURST = { high: 1.75, low: 0.25, dwellMs: 500 } as const;

/** Poisson arrival times (ms) at `rate` requests/s, or with the rate switching between bursty phases (same mean). */
export function arrivalTimes(count: number, rate: number, pattern: ArrivalPattern, random: Random): Float64Array {
  const times = new Float64Array(count);
  let t = 0;
  for (let i = 0; i < count; i++) {
    for (;;) {
      const high = Math.floor(t / BURST.dwellMs) % 2 === 0;
      const current = pattern === 'steady' ? rate : rate * (high ? BURST.high : BURST.low);
      const gap = (-Math.log(1 - random.next()) * 1000) / current;
      const phaseEnd = (Math.floor(t / BURST.dwellMs) + 1) * BURST.dwellMs;
      if (pattern === 'steady' || t + gap <= phaseEnd) {
        t += gap;
        break;
      }
      // Memoryless: move to the phase change and draw again at the new rate.
      t = phaseEnd;
    }
    times[i] = t;
  }
  return times;
}

/** What a policy sees for one trace row besides load: difficulty and per-role correctness estimates. */
export interface RowEstimates {
  difficulty: number;
  correctness?: readonly number[];
}

export interface SimulatedChoice {
  role: Role;
  /** Escalate (FrugalGPT-style) along `chain` while the answer's confidence is below `belowConfidence`. */
  escalation?: { chain: readonly Role[]; belowConfidence: number };
}

/** `input` is the router's view; `row` is the trace row (only an oracle may look at it). */
export type SimulatedPolicy = (input: PolicyInput, row: number, sequence: number) => Role | SimulatedChoice;

export interface SimulationOptions {
  trace: TraceRows;
  model: ServiceModel;
  /** Trace rows in request order. */
  rows: readonly number[];
  arrivals: Float64Array;
  sla: SlaSpec;
  estimates: (row: number) => RowEstimates;
  policy: SimulatedPolicy;
  /** Queue-depth scrape interval of the router (ms). */
  scrapeIntervalMs?: number;
  seed?: number;
}

export interface SimulatedRequest {
  row: number;
  /** The policy's first choice and the role that answered (differ after escalation). */
  chosen: Role;
  served: Role;
  calls: number;
  arrivalMs: number;
  latencyMs: number;
  correct: boolean;
}

interface Job {
  work: number;
  done: () => void;
}

class Process {
  readonly queue: Job[] = [];
  current: Job | undefined;
  remaining = 0;
  busyMs = 0;

  enqueue(job: Job): void {
    if (this.current) this.queue.push(job);
    else this.begin(job);
  }

  begin(job: Job): void {
    this.current = job;
    this.remaining = job.work;
  }

  /** Jobs waiting behind the one running. */
  get waiting(): number {
    return this.queue.length;
  }
}

class TimerQueue {
  private readonly heap: { at: number; seq: number; run: () => void }[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  peek(): number {
    return this.heap.length > 0 ? this.heap[0]!.at : Infinity;
  }

  push(at: number, run: () => void): void {
    const heap = this.heap;
    heap.push({ at, seq: this.seq++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(heap[parent]!, heap[i]!)) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  pop(): () => void {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && this.less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top.run;
  }

  private less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

export function simulate(options: SimulationOptions): SimulatedRequest[] {
  const { trace, model, rows, arrivals, sla } = options;
  if (arrivals.length !== rows.length) throw new RangeError(`arrivals (${arrivals.length}) and rows (${rows.length}) must have the same length`);
  const random = seededRandom(options.seed ?? 1);
  let now = 0;
  const tracker = new LoadTracker({ clock: () => now });
  const client = new Process();
  const router = new Process();
  const variants = Object.fromEntries(ROLES.map((role) => [role, new Process()])) as Record<Role, Process>;
  const processes = [client, router, ...ROLES.map((role) => variants[role])];
  const timers = new TimerQueue();
  const results: SimulatedRequest[] = new Array(rows.length);
  const sample = (service: VariantService) => service.cpuMs * service.shape[random.int(service.shape.length)]!;
  let completed = 0;
  const halfClient = model.clientCpuMs / 2;
  const halfRouter = model.routerCpuMs / 2;

  const scrapeMs = options.scrapeIntervalMs ?? 2000;
  const scrape = () => {
    for (const role of ROLES) tracker.setQueueDepth(role, variants[role].waiting);
    if (completed < rows.length) timers.push(now + scrapeMs, scrape);
  };
  timers.push(0, scrape);

  const callVariant = (role: Role, then: () => void) => {
    const service = model.variants[role];
    const startedAt = tracker.start(role);
    timers.push(now + service.delayMs / 2, () =>
      variants[role].enqueue({
        work: sample(service),
        done: () =>
          timers.push(now + service.delayMs / 2, () => {
            tracker.finish(role, startedAt, 'ok');
            then();
          }),
      }),
    );
  };

  rows.forEach((row, sequence) => {
    timers.push(arrivals[sequence]!, () => {
      const arrivalMs = now;
      client.enqueue({
        work: halfClient,
        done: () =>
          router.enqueue({
            work: halfRouter,
            done: () => {
              const estimate = options.estimates(row);
              const input: PolicyInput = { difficulty: estimate.difficulty, load: tracker.snapshot(), sla, ...(estimate.correctness ? { correctness: estimate.correctness } : {}) };
              const choice = options.policy(input, row, sequence);
              const { role, escalation } = typeof choice === 'string' ? { role: choice, escalation: undefined } : choice;
              let served = role;
              let calls = 0;
              const finish = () =>
                router.enqueue({
                  work: halfRouter,
                  done: () =>
                    client.enqueue({
                      work: halfClient,
                      done: () => {
                        results[sequence] = {
                          row,
                          chosen: role,
                          served,
                          calls,
                          arrivalMs,
                          latencyMs: now - arrivalMs,
                          correct: trace.answers[served].predictions[row] === trace.labels[row],
                        };
                        completed++;
                      },
                    }),
                });
              const attempt = (target: Role) => {
                served = target;
                calls++;
                const answered = () => {
                  const next = escalation?.chain[escalation.chain.indexOf(target) + 1];
                  if (escalation && next && trace.answers[target].confidence[row]! < escalation.belowConfidence) attempt(next);
                  else finish();
                };
                if (target === 'distilled' && model.distilledInRouterCpuMs !== undefined) router.enqueue({ work: model.distilledInRouterCpuMs, done: answered });
                else callVariant(target, answered);
              };
              attempt(role);
            },
          }),
      });
    });
  });

  // Event loop: the next event is either a timer or the earliest completion among busy processes.
  while (completed < rows.length) {
    let busy = 0;
    for (const p of processes) if (p.current) busy++;
    const speed = busy > model.cores ? model.cores / busy : 1;
    let nextCompletion = Infinity;
    let finishing: Process | undefined;
    for (const p of processes) {
      if (!p.current) continue;
      const at = now + p.remaining / speed;
      if (at < nextCompletion) {
        nextCompletion = at;
        finishing = p;
      }
    }
    const nextTimer = timers.peek();
    const until = Math.min(nextCompletion, nextTimer);
    if (until === Infinity) throw new Error(`simulation stalled with ${rows.length - completed} requests unfinished`);
    const elapsed = until - now;
    for (const p of processes) {
      if (!p.current) continue;
      p.remaining -= elapsed * speed;
      p.busyMs += elapsed;
    }
    now = until;
    if (nextCompletion <= nextTimer && finishing) {
      const job = finishing.current!;
      finishing.current = undefined;
      const next = finishing.queue.shift();
      if (next) finishing.begin(next);
      job.done();
    } else {
      timers.pop()();
    }
  }
  return results;
}

export interface SimulationSummary {
  requests: number;
  accuracy: number;
  p50Ms: number;
  p99Ms: number;
  slaViolationRate: number;
  shares: Record<Role, number>;
  /** Variant calls per request (above 1 only with escalation). */
  callsPerRequest: number;
}

export function summarize(results: readonly SimulatedRequest[], sla: SlaSpec): SimulationSummary {
  const latencies = results.map((r) => r.latencyMs).sort((a, b) => a - b);
  const shares = Object.fromEntries(ROLES.map((role) => [role, 0])) as Record<Role, number>;
  let correct = 0;
  let violations = 0;
  let calls = 0;
  for (const r of results) {
    shares[r.chosen] += 1 / results.length;
    if (r.correct) correct++;
    if (r.latencyMs > sla.p99LatencyMs) violations++;
    calls += r.calls;
  }
  return {
    requests: results.length,
    accuracy: correct / results.length,
    p50Ms: nearestRank(latencies, 0.5),
    p99Ms: nearestRank(latencies, 0.99),
    slaViolationRate: violations / results.length,
    shares,
    callsPerRequest: calls / results.length,
  };
}
