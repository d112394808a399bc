// Replays recorded answers of one variant through the real Router on simulated time: the cache,
// its keys, TTLs, sampling and drift agent are the router's own code; only the variant call is a
// lookup of the answer recorded for that request. Deterministic given the seed.
import { seededRandom } from '../common/random.js';
import type { RouterConfig } from '../crds/router-config.js';
import { ROLES, type CacheSpec, type Role } from '../crds/types.js';
import { divergence } from '../router-sidecar/agent/divergence.js';
import type { AgentActionRecord } from '../router-sidecar/agent/controller.js';
import { argmaxRows } from '../variant-server/tensors.js';
import { StaticPolicy } from '../router-sidecar/policy/static.js';
import type { VariantProfiles } from '../router-sidecar/policy/variant-profile.js';
import type { VariantClient } from '../router-sidecar/upstream.js';
import type { CanaryReport } from '../router-sidecar/router.js';
import { inProcessRouter } from './in-process-router.js';

export interface RecordedRequest {
  atMs: number;
  features: Float32Array;
  label: number;
  /** The variant's fresh answer for this request. */
  embedding: Float32Array;
  probabilities: Float32Array;
}

export interface ReplayResult {
  requests: number;
  hits: number;
  /** Answers that differ from the fresh answer because a cached embedding was reused. */
  disagreements: number;
  servedErrors: number;
  freshErrors: number;
  /** Divergence of the reused embedding from the fresh one, on every hit (not only sampled ones). */
  hitCosine: number[];
  hitL2: number[];
  /** Per request: 1 when answered from the cache. */
  hitFlags: Uint8Array;
  /** Per request: 1 when the answer differs from the fresh one because of reuse (for paired tests). */
  disagreementFlags: Uint8Array;
  actions: readonly AgentActionRecord[];
  expirations: number;
  evictions: number;
  /** The canary comparison at the end, when the spec has a canary. */
  canary?: CanaryReport;
}

const UNIFORM: Omit<VariantProfiles[Role], 'role'> = { accuracy: 0.9, latencyMsP50: 1, latencyMsP99: 2, relativeCost: 1 };

export async function replay(requests: readonly RecordedRequest[], cache: CacheSpec, seed: number, role: Role = 'distilled'): Promise<ReplayResult> {
  const config: RouterConfig = {
    version: 1,
    cascade: { name: 'replay', namespace: 'experiments' },
    inputDim: requests[0]?.features.length ?? 1,
    variants: ROLES.map((r) => ({ role: r, name: r, endpoint: `http://${r}.invalid`, modelVersion: '1' })),
    policy: { type: 'static', staticRole: role },
    sla: { p99LatencyMs: 10_000, minAccuracy: 0.5 },
    cache,
  };
  const answers = new Map<Float32Array, RecordedRequest>();
  const probabilitiesOf = new WeakMap<Float32Array, Float32Array>();
  for (const request of requests) {
    answers.set(request.features, request);
    probabilitiesOf.set(request.embedding, request.probabilities);
  }
  let current: RecordedRequest | undefined;
  const hitCosine: number[] = [];
  const hitL2: number[] = [];
  const client = {
    infer: async (features: Float32Array, rows: number) => {
      const answer = answers.get(features);
      if (!answer) throw new Error('replay: no recorded answer for this request');
      return { rows, embedding: answer.embedding, probabilities: answer.probabilities };
    },
    head: async () => {
      throw new Error('replay: heads run locally');
    },
  } as unknown as VariantClient;
  const head = {
    run: async (embedding: Float32Array) => {
      hitCosine.push(divergence('cosine', embedding, current!.embedding));
      hitL2.push(divergence('l2', embedding, current!.embedding));
      const probabilities = probabilitiesOf.get(embedding);
      if (!probabilities) throw new Error('replay: a cached embedding with no recorded answer');
      return probabilities;
    },
    close: async () => {},
  };
  const profiles = Object.fromEntries(ROLES.map((r) => [r, { role: r, ...UNIFORM }])) as VariantProfiles;
  let now = 0;
  const random = seededRandom(seed);
  const { router } = inProcessRouter({
    config,
    clients: Object.fromEntries(ROLES.map((r) => [r, client])) as Record<Role, VariantClient>,
    heads: { [role]: head },
    policy: new StaticPolicy(role, profiles),
    profiles,
    random: () => random.next(),
    clock: () => now,
  });
  const hitFlags = new Uint8Array(requests.length);
  const disagreementFlags = new Uint8Array(requests.length);
  let hits = 0;
  let disagreements = 0;
  let servedErrors = 0;
  let freshErrors = 0;
  for (const [i, request] of requests.entries()) {
    now = request.atMs;
    current = request;
    const result = await router.route(request.features, 1, undefined);
    const served = result.predictions[0]!;
    const fresh = argmaxRows(request.probabilities, 1)[0]!;
    if (result.cacheHit) {
      hits++;
      hitFlags[i] = 1;
    }
    if (served !== fresh) {
      disagreements++;
      disagreementFlags[i] = 1;
    }
    if (served !== request.label) servedErrors++;
    if (fresh !== request.label) freshErrors++;
  }
  const stats = router.cache.stats();
  const canary = router.canary();
  return {
    requests: requests.length, hits, disagreements, servedErrors, freshErrors, hitCosine, hitL2, hitFlags, disagreementFlags,
    actions: router.agentActions(), expirations: stats.expirations, evictions: stats.evictions,
    ...(canary ? { canary } : {}),
  };
}
