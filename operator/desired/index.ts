// Desired state: a pure function from a cascade to the objects it owns.
import type { InferenceCascade } from '../../crds/types.js';
import type { BuildOptions } from './options.js';
import { routerConfigMap, routerDeployment, routerRoleBinding, routerService, routerServiceAccount } from './router.js';
import { variantDeployment, variantService } from './variant.js';

export interface ChildObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
}

export function desiredChildren(cascade: InferenceCascade, options: BuildOptions): ChildObject[] {
  return [
    ...cascade.spec.variants.flatMap((v) => [variantDeployment(cascade, v, options), variantService(cascade, v, options)]),
    routerConfigMap(cascade, options),
    routerServiceAccount(cascade),
    routerRoleBinding(cascade, options),
    routerDeployment(cascade, options),
    routerService(cascade, options),
  ];
}

export { defaultBuildOptions, type BuildOptions } from './options.js';
export { routerEndpoint, routerObjectName } from './router.js';
export { variantObjectName } from './variant.js';
export * from './labels.js';
