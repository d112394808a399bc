import { createHash } from 'node:crypto';
import { ROUTER_CONFIG_FILE, ROUTER_CONFIG_VERSION, type RouterConfig } from '../../crds/router-config.js';
import { parseQuantity } from '../../common/quantity.js';
import { type InferenceCascade, type VariantSpec, variantName } from '../../crds/types.js';
import { childMetadata, commonLabels, COMPONENT_LABEL, CONFIG_HASH_ANNOTATION } from './labels.js';
import { modelVolumes } from './model-volume.js';
import type { BuildOptions } from './options.js';
import { placementPodSpec } from './placement.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './pod-security.js';
import { SHUTDOWN_DELAY_MS, TERMINATION_GRACE_SECONDS } from './shutdown.js';
import { variantCpu, variantObjectName } from './variant.js';

const CONFIG_MOUNT = '/etc/inference-cascade';

export const routerObjectName = (cascade: InferenceCascade): string => `${cascade.metadata.name}-router`;

export function routerEndpoint(cascade: InferenceCascade, options: BuildOptions): string {
  return `http://${routerObjectName(cascade)}.${cascade.metadata.namespace}.svc:${options.httpPort}`;
}

export function routerConfig(cascade: InferenceCascade, options: BuildOptions): RouterConfig {
  const { spec, metadata } = cascade;
  return {
    version: ROUTER_CONFIG_VERSION,
    cascade: { name: metadata.name, namespace: metadata.namespace },
    inputDim: spec.inputDim,
    variants: spec.variants.map((variant) => ({
      role: variant.role,
      name: variantName(variant),
      endpoint: `http://${variantObjectName(cascade, variant)}.${metadata.namespace}.svc:${options.httpPort}`,
      modelVersion: variant.model.version ?? '1',
      modelUri: variant.model.uri,
      ...cpuMillis(variant),
    })),
    policy: spec.router.policy,
    sla: spec.router.sla,
    cache: spec.cache,
  };
}

function cpuMillis(variant: VariantSpec): { cpuMillis?: number } {
  const cpu = variantCpu(variant);
  const cores = cpu === undefined ? undefined : parseQuantity(cpu);
  return cores !== undefined && cores > 0 ? { cpuMillis: Math.round(cores * 1e6) / 1e3 } : {};
}

function routerSelector(cascade: InferenceCascade): Record<string, string> {
  return { 'app.kubernetes.io/instance': cascade.metadata.name, [COMPONENT_LABEL]: 'router' };
}

export function routerConfigMap(cascade: InferenceCascade, options: BuildOptions) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMetadata(cascade, routerObjectName(cascade), commonLabels(cascade, 'router')),
    data: { [ROUTER_CONFIG_FILE]: `${JSON.stringify(routerConfig(cascade, options), null, 2)}\n` },
  };
}

export function routerDeployment(cascade: InferenceCascade, options: BuildOptions) {
  const labels = commonLabels(cascade, 'router');
  // Rolls the router pods when their configuration changes. A variant's CPU capacity is left out:
  // the router picks it up by hot reload, and resizing a variant should not restart the routers.
  const { variants, ...rest } = routerConfig(cascade, options);
  const hashed = { ...rest, variants: variants.map(({ cpuMillis: _cpuMillis, ...variant }) => variant) };
  const configHash = createHash('sha256').update(JSON.stringify(hashed)).digest('hex').slice(0, 16);
  const models = modelVolumes(cascade);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(cascade, routerObjectName(cascade), labels),
    spec: {
      replicas: cascade.spec.router.replicas,
      selector: { matchLabels: routerSelector(cascade) },
      template: {
        metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash } },
        spec: {
          // The router reports its cache agent's actions (Events, the cache-state annotation).
          serviceAccountName: routerObjectName(cascade),
          automountServiceAccountToken: true,
          securityContext: restrictedPodSecurityContext,
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          ...placementPodSpec('cpu'),
          containers: [{
            name: 'router',
            image: options.routerImage,
            args: [
              `--config=${CONFIG_MOUNT}/${ROUTER_CONFIG_FILE}`,
              `--port=${options.httpPort}`,
              `--shutdown-delay-ms=${SHUTDOWN_DELAY_MS}`,
              ...(cascade.spec.router.overloadDelayMs ? [`--overload-delay-ms=${cascade.spec.router.overloadDelayMs}`] : []),
            ],
            ports: [{ name: 'http', containerPort: options.httpPort, protocol: 'TCP' }],
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 },
            resources: { requests: { cpu: '100m', memory: '128Mi' } },
            securityContext: restrictedContainerSecurityContext,
            volumeMounts: [{ name: 'config', mountPath: CONFIG_MOUNT, readOnly: true }, ...models.volumeMounts],
          }],
          volumes: [{ name: 'config', configMap: { name: routerObjectName(cascade) } }, ...models.volumes],
        },
      },
    },
  };
}

export function routerService(cascade: InferenceCascade, options: BuildOptions) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(cascade, routerObjectName(cascade), commonLabels(cascade, 'router')),
    spec: {
      type: 'ClusterIP',
      selector: routerSelector(cascade),
      ports: [{ name: 'http', port: options.httpPort, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

export function routerServiceAccount(cascade: InferenceCascade) {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: childMetadata(cascade, routerObjectName(cascade), commonLabels(cascade, 'router')),
    automountServiceAccountToken: false,
  };
}

export function routerRoleBinding(cascade: InferenceCascade, options: BuildOptions) {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: childMetadata(cascade, routerObjectName(cascade), commonLabels(cascade, 'router')),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: options.routerClusterRole },
    subjects: [{ kind: 'ServiceAccount', name: routerObjectName(cascade), namespace: cascade.metadata.namespace }],
  };
}
