import { API_VERSION, KIND, type InferenceCascade } from '../../crds/types.js';

export const FIELD_MANAGER = 'inference-cascade-operator';
export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const CASCADE_LABEL = 'cascade.inference.dev/cascade';
export const VARIANT_LABEL = 'cascade.inference.dev/variant';
export const ROLE_LABEL = 'cascade.inference.dev/role';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const CONFIG_HASH_ANNOTATION = 'cascade.inference.dev/config-hash';
/** Selects every object the operator owns, for its informers. */
export const OWNED_SELECTOR = `${MANAGED_BY}=${FIELD_MANAGER}`;

export function commonLabels(cascade: InferenceCascade, component: 'variant' | 'router'): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'inference-cascade',
    'app.kubernetes.io/instance': cascade.metadata.name,
    [COMPONENT_LABEL]: component,
    [MANAGED_BY]: FIELD_MANAGER,
    [CASCADE_LABEL]: cascade.metadata.name,
  };
}

export function ownerReference(cascade: InferenceCascade) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: cascade.metadata.name,
    uid: cascade.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function childMetadata(cascade: InferenceCascade, name: string, labels: Record<string, string>) {
  return {
    name,
    namespace: cascade.metadata.namespace,
    labels,
    ownerReferences: [ownerReference(cascade)],
  };
}
