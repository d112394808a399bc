// A Router over fake variant clients behind the real forwarder, breakers, prefix cache and metrics.
import { inProcessRouter, silentLogger } from '../../experiments/in-process-router.js';
import type { RouterConfig } from '../../crds/router-config.js';
import { ROLES, type CacheSpec, type Role } from '../../crds/types.js';
import type { Policy } from '../../router-sidecar/policy/policy.js';
import type { VariantProfiles } from '../../router-sidecar/policy/variant-profile.js';
import type { RouterOptions } from '../../router-sidecar/router.js';
import { UpstreamError, type VariantAnswer, type VariantClient } from '../../router-sidecar/upstream.js';

// By ascending relativeCost: distilled, pruned, quantized, full.
export const PROFILES: VariantProfiles = {
  quantized: { role: 'quantized', accuracy: 0.96, latencyMsP50: 1, latencyMsP99: 3, relativeCost: 0.5 },
  pruned: { role: 'pruned', accuracy: 0.94, latencyMsP50: 0.6, latencyMsP99: 2, relativeCost: 0.3 },
  distilled: { role: 'distilled', accuracy: 0.9, latencyMsP50: 0.2, latencyMsP99: 1, relativeCost: 0.1 },
  full: { role: 'full', accuracy: 0.98, latencyMsP50: 2, latencyMsP99: 10, relativeCost: 1 },
};

export const quiet = silentLogger;

/** Per role: the probabilities it answers (for every row), or the error it fails with. */
export type Behaviour = Partial<Record<Role, number[] | UpstreamError>>;

export interface Call {
  role: Role;
  kind: 'infer' | 'head';
  withEmbedding: boolean;
}

export interface FakeRouterOptions {
  cacheEnabled?: boolean;
  /** Replaces the cache spec (inputDim is 2 unless features say otherwise). */
  cache?: CacheSpec;
  inputDim?: number;
  /** The embedding a variant returns for the request's features (default [1, 2, 3]). */
  embedding?: (features: Float32Array) => Float32Array;
  random?: RouterOptions['random'];
  emitEvent?: RouterOptions['emitEvent'];
  clock?: RouterOptions['clock'];
}

export function fakeRouter(policy: Policy, behaviour: Behaviour, options: FakeRouterOptions = {}) {
  const cacheEnabled = options.cacheEnabled ?? false;
  const config: RouterConfig = {
    version: 1,
    cascade: { name: 'c', namespace: 'ns' },
    inputDim: options.inputDim ?? 2,
    variants: ROLES.map((role) => ({ role, name: role, endpoint: `http://${role}.invalid:8080`, modelVersion: '1' })),
    policy: { type: policy.type },
    sla: { p99LatencyMs: 1000, minAccuracy: 0.9 },
    cache: options.cache ?? { enabled: cacheEnabled, prefixLength: 2, ttlSeconds: 60, maxEntries: 100, drift: { metric: 'cosine', threshold: 0.1, sampleRate: 0 } },
  };
  const calls: Call[] = [];
  const answer = (role: Role, rows: number, features?: Float32Array): VariantAnswer => {
    const outcome = behaviour[role] ?? [0.99, 0.01];
    if (outcome instanceof UpstreamError) throw outcome;
    const probabilities = outcome.length === 2 * rows ? outcome : Array.from({ length: rows }, () => outcome).flat();
    const embedding = features && options.embedding ? options.embedding(features) : Float32Array.from([1, 2, 3]);
    return { rows, embedding, probabilities: Float32Array.from(probabilities) };
  };
  const clients = Object.fromEntries(ROLES.map((role) => [role, {
    infer: async (features: Float32Array, rows: number, _timeoutMs: number, withEmbedding = true) => {
      calls.push({ role, kind: 'infer', withEmbedding });
      return answer(role, rows, features);
    },
    head: async (_embedding: Float32Array, rows: number) => {
      calls.push({ role, kind: 'head', withEmbedding: false });
      return answer(role, rows);
    },
  } as unknown as VariantClient])) as Record<Role, VariantClient>;
  let estimates = 0;
  const { router, metrics, cascade } = inProcessRouter({
    config, clients, policy, profiles: PROFILES, logger: quiet,
    ...(options.random ? { random: options.random } : {}),
    ...(options.emitEvent ? { emitEvent: options.emitEvent } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  cascade.difficulty = { source: 'constant', estimate: async () => { estimates += 1; return { difficulty: 0.5 }; }, close: async () => {} };
  return { router, metrics, calls, cascade, estimates: () => estimates };
}

