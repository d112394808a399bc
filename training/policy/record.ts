// Records traces from the real variant servers and router (started as local processes): every
// variant's answer to every row, and each variant's service under 1..16 concurrent clients.
import path from 'node:path';
import { Agent, request } from 'undici';
import { ROLES, type Role } from '../../crds/types.js';
import { cpuMicros } from '../../common/process-cpu.js';
import { startLocalCascade, type LocalCascade } from '../../scripts/standalone/local-cascade.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { row, rowCount, type Dataset } from '../data/dataset.js';
import type { LoadLevel, ServiceProfile, TraceRows, VariantAnswers } from './trace.js';
import { traceRows } from './trace.js';

export const SAMPLE_CASCADE = path.join(ROOT, 'manifests', 'samples', 'cascade.yaml');

const BATCH_ROWS = 1000;

interface PredictBody {
  predictions: number[];
  probabilities: number[][];
}

async function postJson(dispatcher: Agent, url: string, body: unknown): Promise<unknown> {
  const response = await request(url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const parsed = (await response.body.json()) as { error?: string };
  if (response.statusCode !== 200) throw new Error(`${url}: HTTP ${response.statusCode}: ${parsed.error ?? 'no error message'}`);
  return parsed;
}

function rowsAsArrays(dataset: Dataset, from: number, to: number): number[][] {
  const rows: number[][] = [];
  for (let i = from; i < to; i++) rows.push(Array.from(row(dataset, i)));
  return rows;
}

/** Every row through one variant server's /predict, in batches. */
export async function recordAnswers(variantUrl: string, dataset: Dataset, dispatcher: Agent): Promise<VariantAnswers> {
  const n = rowCount(dataset);
  const predictions = new Int32Array(n);
  const confidence = new Float32Array(n);
  for (let from = 0; from < n; from += BATCH_ROWS) {
    const to = Math.min(n, from + BATCH_ROWS);
    const body = (await postJson(dispatcher, `${variantUrl}/predict`, { features: rowsAsArrays(dataset, from, to) })) as PredictBody;
    body.predictions.forEach((p, i) => {
      predictions[from + i] = p;
      confidence[from + i] = Math.max(...body.probabilities[i]!);
    });
  }
  return { predictions, confidence };
}

/** `requests` one-row requests from `concurrency` closed-loop clients; latency and server CPU. */
export async function measureLoadLevel(url: string, pid: number, dataset: Dataset, concurrency: number, requests: number): Promise<LoadLevel> {
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const bodies = Array.from({ length: Math.min(requests, rowCount(dataset)) }, (_, i) => JSON.stringify({ features: [Array.from(row(dataset, i))] }));
  const send = async (i: number) => {
    const response = await request(`${url}/predict`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: bodies[i % bodies.length]! });
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`${url}/predict: HTTP ${response.statusCode}`);
  };
  for (let i = 0; i < 100; i++) await send(i); // warm-up
  const latencyMs: number[] = [];
  let next = 0;
  const cpuBefore = cpuMicros(pid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        const t0 = performance.now();
        await send(i);
        latencyMs.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuMs = (cpuMicros(pid) - cpuBefore) / 1000;
  const client = process.cpuUsage(clientBefore);
  await dispatcher.close();
  latencyMs.sort((a, b) => a - b);
  return { concurrency, requests, latencyMs, cpuMsPerRequest: cpuMs / requests, clientCpuMsPerRequest: (client.user + client.system) / 1000 / requests, requestsPerSecond: requests / seconds };
}

export interface RecordOptions {
  concurrencies: readonly number[];
  requestsPerLevel: number;
  /**
   * Each level's requests are split into this many rounds, interleaved across the variants, and
   * the rounds' median CPU per request is kept: measured one variant after the other, a slow drift
   * of the shared machine decides which of two variants looks cheaper (default 3).
   */
  rounds?: number;
  log: (message: string) => void;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One level from its rounds: latencies pooled, CPU per request and rate the rounds' medians. */
export function mergeRounds(rounds: readonly LoadLevel[]): LoadLevel {
  if (rounds.length === 0) throw new Error('mergeRounds: no rounds');
  if (new Set(rounds.map((r) => r.concurrency)).size !== 1) throw new Error('mergeRounds: rounds of different concurrencies');
  return {
    concurrency: rounds[0]!.concurrency,
    requests: rounds.reduce((sum, r) => sum + r.requests, 0),
    latencyMs: rounds.flatMap((r) => r.latencyMs).sort((a, b) => a - b),
    cpuMsPerRequest: median(rounds.map((r) => r.cpuMsPerRequest)),
    clientCpuMsPerRequest: median(rounds.map((r) => r.clientCpuMsPerRequest)),
    requestsPerSecond: median(rounds.map((r) => r.requestsPerSecond)),
  };
}

/** Starts the sample cascade with one static route and no cache, so the router's own cost is measurable. */
export async function startRecordingCascade(log: (message: string) => void): Promise<LocalCascade> {
  return startLocalCascade({
    cascadeFile: SAMPLE_CASCADE,
    adjust: (config) => {
      config.policy = { type: 'static', staticRole: 'distilled' };
      config.cache = { ...config.cache, enabled: false };
    },
    log,
  });
}

export async function recordServiceProfile(cascade: LocalCascade, dataset: Dataset, options: RecordOptions): Promise<ServiceProfile> {
  const rounds = options.rounds ?? 3;
  const perRound = Math.ceil(options.requestsPerLevel / rounds);
  const measured = new Map<string, LoadLevel[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const role of ROLES) {
      for (const concurrency of options.concurrencies) {
        const level = await measureLoadLevel(cascade.variants[role].url, cascade.variants[role].child.pid!, dataset, concurrency, perRound);
        const key = `${role} x${concurrency}`;
        measured.set(key, [...(measured.get(key) ?? []), level]);
      }
    }
    options.log(`service profile: round ${round}/${rounds} done`);
  }
  const variants = {} as Record<Role, LoadLevel[]>;
  for (const role of ROLES) {
    variants[role] = options.concurrencies.map((concurrency) => {
      const roundsOfLevel = measured.get(`${role} x${concurrency}`)!;
      const level = mergeRounds(roundsOfLevel);
      options.log(`${role} x${concurrency}: p50 ${level.latencyMs[Math.floor(level.latencyMs.length / 2)]!.toFixed(3)} ms, ${level.cpuMsPerRequest.toFixed(3)} ms CPU/request (rounds ${roundsOfLevel.map((r) => r.cpuMsPerRequest.toFixed(3)).join(' / ')}), ${level.requestsPerSecond.toFixed(0)} req/s`);
      return level;
    });
  }
  const direct = variants.distilled[0]!;
  const viaRouter = await measureLoadLevel(cascade.router.url, cascade.router.child.pid!, dataset, 1, options.requestsPerLevel);
  // CPU per request under load (fixed costs per wake-up are amortised over several requests, as in production).
  const busyRouter = await measureLoadLevel(cascade.router.url, cascade.router.child.pid!, dataset, Math.max(...options.concurrencies), options.requestsPerLevel);
  const router = { cpuMsPerRequest: busyRouter.cpuMsPerRequest, addedLatencyMsP50: Math.max(0, median(viaRouter.latencyMs) - median(direct.latencyMs)) };
  options.log(`router: ${router.cpuMsPerRequest.toFixed(3)} ms CPU/request, adds ${router.addedLatencyMsP50.toFixed(3)} ms at p50`);
  const { availableParallelism } = await import('node:os');
  return { variants, router, machine: { cpus: availableParallelism() } };
}

export async function recordTraceRows(cascade: LocalCascade, dataset: Dataset, log: (message: string) => void): Promise<TraceRows> {
  const dispatcher = new Agent({ connections: 1 });
  const answers = {} as Record<Role, VariantAnswers>;
  try {
    for (const role of ROLES) {
      answers[role] = await recordAnswers(cascade.variants[role].url, dataset, dispatcher);
      log(`${role}: ${rowCount(dataset)} answers recorded`);
    }
  } finally {
    await dispatcher.close();
  }
  return traceRows(dataset, answers);
}
