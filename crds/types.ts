// The InferenceCascade custom resource as TypeScript sees it: the one shape shared by the operator
// and the router. The schema that the API server enforces is crds/inferencecascade.yaml; the
// defaults below mirror the defaults declared there.

export const GROUP = 'cascade.inference.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'InferenceCascade';
export const PLURAL = 'inferencecascades';

export const ROLES = ['quantized', 'pruned', 'distilled', 'full'] as const;
export type Role = (typeof ROLES)[number];

export type Placement = 'cpu' | 'gpu';
export type PolicyType = 'learned' | 'heuristic' | 'static' | 'random' | 'round-robin' | 'threshold-cascade';
export type DriftMetric = 'cosine' | 'l2';

export interface ModelRef {
  uri: string;
  /** Bumped when the model at the same URI changes; part of the router's cache key. */
  version?: string;
}

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface VariantSpec {
  role: Role;
  /** Defaults to the role; child objects are named `<cascade>-<name>`. */
  name?: string;
  model: ModelRef;
  replicas: number;
  placement: Placement;
  resources?: { requests?: ResourceList; limits?: ResourceList };
}

export interface SlaSpec {
  p99LatencyMs: number;
  minAccuracy: number;
}

export interface PolicySpec {
  type: PolicyType;
  model?: ModelRef;
  /** The role every request goes to with `type: static`. */
  staticRole?: Role;
  /**
   * With `type: threshold-cascade`: escalate to a more costly role while the answer's top-class
   * probability is below this, in (0, 1). The router applies the default (0.9) when absent.
   */
  confidenceThreshold?: number;
  /**
   * Answer requests routed to the distilled variant with the router's own copy of the distilled
   * model (the one its difficulty estimate runs) instead of forwarding them. Off when absent.
   */
  distilledInRouter?: boolean;
}

export interface RouterSpec {
  replicas: number;
  /** The router's --overload-delay-ms: 0 turns its overload guard off (the default). */
  overloadDelayMs?: number;
  policy: PolicySpec;
  sla: SlaSpec;
}

/** enforce: the agent switches reuse and TTL; observe: it only samples, logs and reports what it would do. */
export type DriftMode = 'enforce' | 'observe';
/** adaptive: entries that may predate a change the agent detected expire at once; fixed: entries live ttlSeconds. */
export type TtlMode = 'adaptive' | 'fixed';

export interface DriftSpec {
  metric: DriftMetric;
  threshold: number;
  sampleRate: number;
  /** Defaults to enforce. */
  mode?: DriftMode;
}

/**
 * A candidate cache policy served to `fraction` of the requests and compared live with the current
 * one on the same traffic; unset fields are the current policy's.
 */
export interface CacheCanarySpec {
  fraction: number;
  prefixLength?: number;
  ttlSeconds?: number;
  ttlMode?: TtlMode;
  /** The drift risk (share of sampled would-be hits diverging beyond the threshold) a policy may have to be promoted. */
  maxRisk?: number;
}

export interface CacheSpec {
  enabled: boolean;
  prefixLength: number;
  ttlSeconds: number;
  maxEntries: number;
  /** Defaults to adaptive. */
  ttlMode?: TtlMode;
  drift: DriftSpec;
  canary?: CacheCanarySpec;
}

export interface InferenceCascadeSpec {
  inputDim: number;
  variants: VariantSpec[];
  router: RouterSpec;
  cache: CacheSpec;
  /** A Kubernetes volume source (one key, e.g. persistentVolumeClaim) mounted read-only at /models in every pod. */
  modelVolume?: Record<string, unknown>;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';
export const CONDITION_TYPES = ['Ready', 'VariantsAvailable', 'RouterAvailable', 'CacheDegraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface VariantStatus {
  role: Role;
  name: string;
  placement: Placement;
  replicas: number;
  readyReplicas: number;
}

export interface CascadeStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** "ready/total" variants, for the printer column. */
  variantsReady?: string;
  variants?: VariantStatus[];
  router?: { replicas: number; readyReplicas: number; endpoint: string };
  cache?: { reuse: 'Enabled' | 'Disabled'; reason: string };
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface InferenceCascade {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: InferenceCascadeSpec;
  status?: CascadeStatus;
}

export function variantName(variant: Pick<VariantSpec, 'role' | 'name'>): string {
  return variant.name ?? variant.role;
}
