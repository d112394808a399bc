// The router's configuration document, rendered by the operator into a ConfigMap and read by the
// router sidecar. Versioned so a newer router can refuse a document it does not understand.
import type { CacheSpec, PolicySpec, Role, SlaSpec } from './types.js';

export const ROUTER_CONFIG_VERSION = 1;
export const ROUTER_CONFIG_FILE = 'router.json';

export interface RouterVariantEndpoint {
  role: Role;
  name: string;
  /** Base URL of the variant's Open Inference Protocol v2 server. */
  endpoint: string;
  modelVersion: string;
  /** Where the variant's model lives; a router that can read it runs the head locally on cache hits. */
  modelUri?: string;
  /** CPU each of the variant's pods may use, in millicores (its limit, else its request): pod CPU
   * from metrics.k8s.io is reported as a fraction of it. */
  cpuMillis?: number;
}

export interface RouterConfig {
  version: typeof ROUTER_CONFIG_VERSION;
  cascade: { name: string; namespace: string };
  inputDim: number;
  variants: RouterVariantEndpoint[];
  policy: PolicySpec;
  sla: SlaSpec;
  cache: CacheSpec;
}
