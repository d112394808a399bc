// Status is rebuilt from the observed children on every pass (level-based): a pure function of
// the cascade, the Deployments the informers hold, and the outcome of the last apply.
import {
  type CascadeStatus, type Condition, type ConditionStatus, type ConditionType, type InferenceCascade,
  variantName,
} from '../crds/types.js';
import { routerEndpoint, routerObjectName, variantObjectName, type BuildOptions } from './desired/index.js';

/** The router's drift agent reports cache reuse through this annotation: {"reuse","reason"}. */
export const CACHE_STATE_ANNOTATION = 'cascade.inference.dev/cache-state';

export interface ObservedDeployment {
  metadata?: { generation?: number; uid?: string };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

interface Availability {
  available: boolean;
  /** Why it cannot become available: the Deployment's own reason (ProgressDeadlineExceeded, FailedCreate...). */
  failed?: string;
  /** The Deployment condition's message, which names the ReplicaSet or the refused pod. */
  detail?: string;
  readyReplicas: number;
}

export function deploymentAvailability(deployment: ObservedDeployment | undefined, wantReplicas: number): Availability {
  if (!deployment) return { available: false, readyReplicas: 0 };
  const status = deployment.status ?? {};
  const readyReplicas = status.readyReplicas ?? 0;
  const current = (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  // Pods the ReplicaSet cannot create (a quota, Pod Security refusing the pod) fail at once, once
  // the controller has seen this generation; a rollout that stops progressing fails at its
  // progress deadline.
  const failure = (current ? status.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True') : undefined) ??
    status.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False');
  const available = current && (status.updatedReplicas ?? 0) >= wantReplicas &&
    (status.availableReplicas ?? 0) >= wantReplicas && (status.replicas ?? 0) === wantReplicas;
  const failed = failure && !available
    ? { failed: failure.reason ?? (failure.type === 'ReplicaFailure' ? 'ReplicaFailure' : 'ProgressStalled'), ...(failure.message ? { detail: failure.message } : {}) }
    : {};
  return { available: available || (current && wantReplicas === 0 && (status.replicas ?? 0) === 0), readyReplicas, ...failed };
}

/** What an apply returned for a Deployment: which object, at which generation. */
export interface AppliedDeployment {
  uid: string;
  generation: number;
}

/**
 * The cached Deployment as the status should judge it: when this operator applied a newer
 * generation than the cache has seen yet, that generation is not rolled out, whatever the cached
 * (previous) status says; a cached object with another uid (deleted and created again) says
 * nothing about the applied one.
 */
export function awaitingAppliedGeneration(cached: ObservedDeployment | undefined, applied: AppliedDeployment | undefined): ObservedDeployment | undefined {
  if (!cached || applied === undefined) return cached;
  if (cached.metadata?.uid !== undefined && cached.metadata.uid !== applied.uid) return { metadata: { uid: applied.uid, generation: applied.generation } };
  if ((cached.metadata?.generation ?? 0) >= applied.generation) return cached;
  return { ...cached, metadata: { ...cached.metadata, generation: applied.generation } };
}

function condition(type: ConditionType, status: ConditionStatus, reason: string, message: string): Omit<Condition, 'lastTransitionTime'> {
  return { type, status, reason, message };
}

function cacheState(cascade: InferenceCascade): { reuse: 'Enabled' | 'Disabled'; reason: string } {
  if (!cascade.spec.cache.enabled) return { reuse: 'Disabled', reason: 'DisabledInSpec' };
  const reported = cascade.metadata.annotations?.[CACHE_STATE_ANNOTATION];
  if (reported) {
    try {
      const parsed = JSON.parse(reported) as { reuse?: string; reason?: string };
      if (parsed.reuse === 'Disabled') return { reuse: 'Disabled', reason: parsed.reason ?? 'ReportedByRouter' };
    } catch {
      return { reuse: 'Enabled', reason: 'UnreadableReport' };
    }
  }
  return { reuse: 'Enabled', reason: 'NoDriftReported' };
}

export interface StatusInputs {
  cascade: InferenceCascade;
  deployments: (name: string) => ObservedDeployment | undefined;
  options: BuildOptions;
  /** Message of the last failed apply in this pass, if any. */
  applyError?: string;
  now: Date;
}

export function computeStatus({ cascade, deployments, options, applyError, now }: StatusInputs): CascadeStatus {
  const variants = cascade.spec.variants.map((variant) => {
    const availability = deploymentAvailability(deployments(variantObjectName(cascade, variant)), variant.replicas);
    return { variant, availability };
  });
  const router = deploymentAvailability(deployments(routerObjectName(cascade)), cascade.spec.router.replicas);
  const availableVariants = variants.filter((v) => v.availability.available);
  const failedVariant = variants.find((v) => v.availability.failed);
  const waitingFor = variants.filter((v) => !v.availability.available).map((v) => variantName(v.variant));

  const failing = (what: string, availability: Availability) =>
    `${what}: ${availability.failed}${availability.detail ? `: ${availability.detail}` : ''}`;
  const failedVariants = variants.filter((v) => v.availability.failed)
    .map((v) => failing(`variant ${variantName(v.variant)} (Deployment ${variantObjectName(cascade, v.variant)})`, v.availability));
  const variantsCondition = availableVariants.length === variants.length
    ? condition('VariantsAvailable', 'True', 'AllVariantsAvailable', `${variants.length} variants available`)
    : failedVariant
      ? condition('VariantsAvailable', 'False', failedVariant.availability.failed!, failedVariants.join('; '))
      : condition('VariantsAvailable', 'False', 'VariantsProgressing', `waiting for ${waitingFor.join(', ')}`);
  const routerCondition = router.available
    ? condition('RouterAvailable', 'True', 'RouterAvailable', `${router.readyReplicas} router replicas ready`)
    : router.failed
      ? condition('RouterAvailable', 'False', router.failed, failing(`router (Deployment ${routerObjectName(cascade)})`, router))
      : condition('RouterAvailable', 'False', 'RouterProgressing', `waiting for the router Deployment ${routerObjectName(cascade)}`);
  const cache = cacheState(cascade);
  const cacheCondition = cache.reuse === 'Disabled' && cache.reason !== 'DisabledInSpec'
    ? condition('CacheDegraded', 'True', cache.reason, 'the router disabled cache reuse')
    : condition('CacheDegraded', 'False', cache.reason, cache.reuse === 'Enabled' ? 'cache reuse enabled' : 'cache disabled in spec');

  let ready: Omit<Condition, 'lastTransitionTime'>;
  if (applyError) ready = condition('Ready', 'False', 'ApplyFailed', applyError);
  else if (variantsCondition.status === 'True' && routerCondition.status === 'True') ready = condition('Ready', 'True', 'Available', 'all variants and the router are available');
  else if (failedVariant || router.failed) {
    ready = condition('Ready', 'False', 'RolloutStalled', [...(failedVariant ? [variantsCondition.message] : []), ...(router.failed ? [routerCondition.message] : [])].join('; '));
  }
  else ready = condition('Ready', 'Unknown', 'Progressing', 'waiting for children to become available');

  return {
    observedGeneration: cascade.metadata.generation,
    conditions: mergeConditions(cascade.status?.conditions ?? [], [ready, variantsCondition, routerCondition, cacheCondition], now, cascade.metadata.generation),
    variantsReady: `${availableVariants.length}/${variants.length}`,
    variants: variants.map(({ variant, availability }) => ({
      role: variant.role,
      name: variantName(variant),
      placement: variant.placement,
      replicas: variant.replicas,
      readyReplicas: availability.readyReplicas,
    })),
    router: { replicas: cascade.spec.router.replicas, readyReplicas: router.readyReplicas, endpoint: routerEndpoint(cascade, options) },
    cache,
  };
}

/** Keeps lastTransitionTime when a condition's status did not change (meta.SetStatusCondition). */
export function mergeConditions(
  previous: Condition[], next: Omit<Condition, 'lastTransitionTime'>[], now: Date, generation?: number,
): Condition[] {
  return next.map((c) => {
    const old = previous.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z');
    return { ...c, lastTransitionTime, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
  });
}
