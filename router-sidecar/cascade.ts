// Everything the router builds from one RouterConfig: variant clients, local heads, the
// difficulty estimator, the policy, breakers and the forwarder. A config reload builds a new
// Cascade and swaps it in; the prefix cache, the agent and the load figures live outside it so
// they survive reloads that do not change them.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../common/logger.js';
import type { RouterConfig } from '../crds/router-config.js';
import { ROLES, type Role } from '../crds/types.js';
import { createBreakers, type CircuitBreakers } from './forwarding/circuit-breaker.js';
import { Forwarder, type Attempt } from './forwarding/forwarder.js';
import { RetryBudget } from './forwarding/retry-budget.js';
import type { LoadTracker } from './load/load-tracker.js';
import { localModelPath, openDifficultyEstimator, openLocalHeads, type DifficultyEstimator, type LocalHead } from './local-models.js';
import { ESTIMATOR_FILE } from './policy/estimator-model.js';
import { LearnedPolicy } from './policy/learned.js';
import { loadPolicy } from './policy/load-policy.js';
import type { Policy } from './policy/policy.js';
import { CARD_FILE, profileFromCard, withRelativeCosts, type MeasuredProfile, type VariantProfiles } from './policy/variant-profile.js';
import { VariantClient } from './upstream.js';

export interface CascadeOptions {
  modelsRoot?: string;
  maxInFlightPerVariant: number;
  /** The shortest wait for an attempt at a variant before the next one is tried. */
  attemptTimeoutFloorMs?: number;
  logger: Logger;
  load: LoadTracker;
  onAttempt: (attempt: Attempt) => void;
  onPolicyFallback: (reason: string, message: string) => void;
  onBreakerChange: (role: Role, from: string, to: string) => void;
}

const PROBE_TIMEOUT_MS = 1000;

export interface Cascade {
  config: RouterConfig;
  clients: Record<Role, VariantClient>;
  heads: Partial<Record<Role, LocalHead>>;
  difficulty: DifficultyEstimator;
  profiles: VariantProfiles;
  policy: Policy;
  breakers: CircuitBreakers;
  forwarder: Forwarder;
  retryBudget: RetryBudget;
  /**
   * Probes variants whose breaker is half-open with one real inference (a zero row), so a
   * recovered variant is readmitted even when no request is routed to it, and a variant that
   * answers its health check but fails inference is not.
   */
  probeRecovering(): Promise<void>;
  /** Requests currently using this cascade; a replaced cascade is closed once this reaches 0. */
  active: number;
  close(): Promise<void>;
}

/** Cautious stand-ins when a variant's model card is not readable here: ordered by role, not measured. */
const ASSUMED: Record<Role, Omit<MeasuredProfile, 'role'>> = {
  distilled: { accuracy: 0.9, latencyMsP50: 0.05, latencyMsP99: 0.5 },
  pruned: { accuracy: 0.93, latencyMsP50: 0.1, latencyMsP99: 1 },
  quantized: { accuracy: 0.94, latencyMsP50: 0.15, latencyMsP99: 1 },
  full: { accuracy: 0.95, latencyMsP50: 0.3, latencyMsP99: 2 },
};

export function variantProfiles(config: RouterConfig, modelsRoot: string | undefined, logger: Logger): VariantProfiles {
  const measured = {} as Record<Role, MeasuredProfile>;
  for (const role of ROLES) {
    const variant = config.variants.find((v) => v.role === role)!;
    const path = localModelPath(variant.modelUri, modelsRoot);
    try {
      if (!path) throw new Error(`model ${variant.modelUri ?? '(no modelUri)'} is not readable by the router`);
      const file = join(path, CARD_FILE);
      measured[role] = profileFromCard(JSON.parse(readFileSync(file, 'utf8')), file, role);
    } catch (error) {
      logger.warn('no model card for a variant; the heuristic uses assumed figures for it', { role, error: (error as Error).message });
      measured[role] = { role, ...ASSUMED[role] };
    }
  }
  return withRelativeCosts(measured);
}

/** A learned policy's estimator.onnx, when it ships one beside policy.onnx. */
function trainedEstimatorFile(config: RouterConfig, policyModel: string | undefined, logger: Logger): string | undefined {
  if (config.policy.type !== 'learned' || !policyModel) return undefined;
  const file = join(dirname(policyModel), ESTIMATOR_FILE);
  if (existsSync(file)) return file;
  logger.warn('the learned policy has no estimator.onnx beside it; its correctness features fall back to 1 - difficulty', { policy: policyModel });
  return undefined;
}

export async function buildCascade(config: RouterConfig, options: CascadeOptions): Promise<Cascade> {
  const clients = Object.fromEntries(config.variants.map((v) => [v.role, new VariantClient(v)])) as Record<Role, VariantClient>;
  const opened: { close(): Promise<void> }[] = Object.values(clients);
  try {
    const heads = await openLocalHeads(config.variants, options.modelsRoot);
    opened.push(...Object.values(heads));
    const policyModel = localModelPath(config.policy.model?.uri, options.modelsRoot);
    const difficulty = await openDifficultyEstimator(
      config.variants.find((v) => v.role === 'distilled'),
      options.modelsRoot,
      trainedEstimatorFile(config, policyModel, options.logger),
    );
    opened.push(difficulty);
    if (difficulty.source === 'constant') options.logger.warn('the distilled model is not readable here; every request is treated as of medium difficulty');
    const profiles = variantProfiles(config, options.modelsRoot, options.logger);
    const policy = await loadPolicy({
      spec: config.policy,
      profiles,
      logger: options.logger,
      onFallback: options.onPolicyFallback,
      ...(policyModel ? { modelPath: policyModel } : {}),
    });
    const breakers = createBreakers({ failureThreshold: 5, coolDownMs: 2000, onStateChange: options.onBreakerChange });
    // Envoy's defaults: retries in flight at most max(20% of requests in flight, 3).
    const retryBudget = new RetryBudget({ ratio: 0.2, minConcurrent: 3 });
    const forwarder = new Forwarder({
      clients,
      breakers,
      load: options.load,
      retryBudget,
      maxInFlightPerVariant: options.maxInFlightPerVariant,
      hardTimeoutMs: Math.max(1000, 4 * config.sla.p99LatencyMs),
      ...(options.attemptTimeoutFloorMs !== undefined ? { attemptTimeoutFloorMs: options.attemptTimeoutFloorMs } : {}),
      now: () => performance.now(),
      onAttempt: options.onAttempt,
    });
    return {
      config,
      clients,
      heads,
      difficulty,
      profiles,
      policy,
      breakers,
      forwarder,
      retryBudget,
      active: 0,
      async probeRecovering() {
        const probeRow = new Float32Array(config.inputDim);
        await Promise.all(
          ROLES.map(async (role) => {
            const breaker = breakers[role];
            if (breaker.state() !== 'half-open' || !breaker.tryAcquire()) return;
            const answered = await clients[role].infer(probeRow, 1, PROBE_TIMEOUT_MS, false).then(() => true, () => false);
            if (answered) breaker.onSuccess();
            else breaker.onFailure();
          }),
        );
      },
      async close() {
        await Promise.all(opened.map((resource) => resource.close()));
        if (policy instanceof LearnedPolicy) await policy.release();
      },
    };
  } catch (error) {
    // A half-built cascade must not leak connection pools or native onnxruntime sessions.
    await Promise.allSettled(opened.map((resource) => resource.close()));
    throw error;
  }
}
