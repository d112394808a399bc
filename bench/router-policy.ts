// In-process timings for bench/router.ts: HeuristicPolicy.decide over realistic inputs (difficulty
// from the distilled model on sessions-32 traffic, load snapshots from a LoadTracker fed simulated
// traffic, occasional SLA hints and open breakers), the router's whole per-request policy step
// (load snapshot + allowed roles + decide), and the distilled difficulty estimate it runs first.
import type { RouterVariantEndpoint } from '../crds/router-config.js';
import { ROLES, type Role, type SlaSpec } from '../crds/types.js';
import { allowedRoles, createBreakers } from '../router-sidecar/forwarding/circuit-breaker.js';
import { LoadTracker } from '../router-sidecar/load/load-tracker.js';
import { openDifficultyEstimator } from '../router-sidecar/local-models.js';
import { HeuristicPolicy } from '../router-sidecar/policy/heuristic.js';
import type { PolicyInput } from '../router-sidecar/policy/policy.js';
import type { VariantProfiles } from '../router-sidecar/policy/variant-profile.js';
import { seededRandom, type Random } from '../common/random.js';
import { sessionStream } from '../training/data/sessions32.js';
import { percentile, sorted } from './router-load.js';

export interface PolicyTimings {
  /** Microseconds per decide call, one figure per batch (batch time / batch size). */
  decideUs: Float64Array;
  /** Microseconds per snapshot + allowedRoles + decide, as the router does per request. */
  stepUs: Float64Array;
  /** Microseconds per difficulty estimate (distilled encoder + head in onnxruntime), timed one by one. */
  difficultyUs: Float64Array;
  batchSize: number;
  inputs: number;
  routesChosen: Record<Role, number>;
}

/** Simulated traffic on a tracker with its own clock: requests start and finish at random. */
function trafficLoad(random: Random): { tracker: LoadTracker; step: () => void } {
  let now = 0;
  const tracker = new LoadTracker({ clock: () => now });
  const open: Record<Role, number[]> = { quantized: [], pruned: [], distilled: [], full: [] };
  const baseMs: Record<Role, number> = { quantized: 0.4, pruned: 0.3, distilled: 0.2, full: 1.5 };
  const step = () => {
    now += 0.5;
    for (const role of ROLES) {
      if (random.next() < 0.5) open[role].push(tracker.start(role));
      const started = open[role].shift();
      if (started !== undefined && random.next() < 0.6) {
        now += baseMs[role] * (0.5 + random.next() * (random.next() < 0.02 ? 40 : 2));
        const roll = random.next();
        tracker.finish(role, started, roll < 0.97 ? 'ok' : roll < 0.99 ? 'error' : 'timeout');
      } else if (started !== undefined) open[role].unshift(started);
      if (random.next() < 0.05) tracker.setQueueDepth(role, random.int(12));
    }
  };
  return { tracker, step };
}

async function realisticInputs(count: number, sla: SlaSpec, distilled: RouterVariantEndpoint, modelsRoot: string) {
  const estimator = await openDifficultyEstimator(distilled, modelsRoot);
  const random = seededRandom(11);
  const stream = sessionStream({ streamSeed: 7, activeSessions: 64, requestsPerSession: 16 });
  const { step, tracker } = trafficLoad(random);
  const inputs: PolicyInput[] = [];
  const difficultyUs: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const features = stream.next().value!.features;
      const started = performance.now();
      const { difficulty } = await estimator.estimate(features, 1);
      difficultyUs.push((performance.now() - started) * 1000);
      step();
      const hinted = random.next() < 0.2;
      const allowed = new Set<Role>(ROLES);
      if (random.next() < 0.05) allowed.delete(ROLES[random.int(ROLES.length)]!);
      inputs.push({
        difficulty,
        load: tracker.snapshot(),
        sla,
        ...(hinted ? { hints: { latencyBudgetMs: 2 + random.next() * 60, minAccuracy: 0.85 + random.next() * 0.1 } } : {}),
        allowed,
      });
    }
  } finally {
    await estimator.close();
  }
  return { inputs, difficultyUs: sorted(difficultyUs.slice(Math.floor(count / 10))) };
}

export async function timePolicy(options: {
  profiles: VariantProfiles;
  sla: SlaSpec;
  distilled: RouterVariantEndpoint;
  modelsRoot: string;
  inputs?: number;
  batches?: number;
  batchSize?: number;
}): Promise<PolicyTimings> {
  const count = options.inputs ?? 4096;
  const batches = options.batches ?? 4000;
  const batchSize = options.batchSize ?? 32;
  const { inputs, difficultyUs } = await realisticInputs(count, options.sla, options.distilled, options.modelsRoot);
  const policy = new HeuristicPolicy(options.profiles);
  const routesChosen: Record<Role, number> = { quantized: 0, pruned: 0, distilled: 0, full: 0 };
  for (const input of inputs) routesChosen[policy.decide(input).role] += 1;

  // The router's own step: a live tracker and breakers, as in Router.routeOn.
  const tracker = new LoadTracker();
  const breakers = createBreakers({ failureThreshold: 5, coolDownMs: 2000 });
  let sink = 0;
  const timeBatches = (call: (input: PolicyInput) => number): Float64Array => {
    const perCall: number[] = [];
    for (let i = 0; i < 20_000; i++) sink += call(inputs[i % count]!); // JIT warm-up
    for (let b = 0; b < batches; b++) {
      const base = (b * batchSize) % count;
      const started = performance.now();
      for (let j = 0; j < batchSize; j++) sink += call(inputs[(base + j) % count]!);
      perCall.push(((performance.now() - started) * 1000) / batchSize);
    }
    return sorted(perCall);
  };
  const decideUs = timeBatches((input) => policy.decide(input).ranked.length);
  const stepUs = timeBatches(
    (input) => policy.decide({ difficulty: input.difficulty, load: tracker.snapshot(), sla: input.sla, allowed: allowedRoles(breakers) }).ranked.length,
  );
  if (sink === 0) throw new Error('policy timings: no decisions were made');
  return { decideUs, stepUs, difficultyUs, batchSize, inputs: count, routesChosen };
}

export function summarizeUs(values: Float64Array) {
  const round = (n: number) => Number(n.toFixed(3));
  return { p50: round(percentile(values, 50)), p99: round(percentile(values, 99)), max: round(values[values.length - 1] ?? NaN), samples: values.length };
}
