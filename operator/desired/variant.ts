import { type InferenceCascade, type VariantSpec, variantName } from '../../crds/types.js';
import { childMetadata, commonLabels, ROLE_LABEL, VARIANT_LABEL } from './labels.js';
import type { BuildOptions } from './options.js';
import { modelVolumes } from './model-volume.js';
import { GPU_RESOURCE, placementPodSpec } from './placement.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './pod-security.js';
import { SHUTDOWN_DELAY_MS, TERMINATION_GRACE_SECONDS } from './shutdown.js';

const DEFAULT_REQUESTS = { cpu: '100m', memory: '128Mi' };

export const variantObjectName = (cascade: InferenceCascade, variant: VariantSpec): string =>
  `${cascade.metadata.name}-${variantName(variant)}`;

function variantLabels(cascade: InferenceCascade, variant: VariantSpec): Record<string, string> {
  return { ...commonLabels(cascade, 'variant'), [VARIANT_LABEL]: variantName(variant), [ROLE_LABEL]: variant.role };
}

function selectorLabels(cascade: InferenceCascade, variant: VariantSpec): Record<string, string> {
  return { 'app.kubernetes.io/instance': cascade.metadata.name, [VARIANT_LABEL]: variantName(variant) };
}

/** The CPU a variant pod may use: its limit, else its request. */
export function variantCpu(variant: VariantSpec): string | undefined {
  return variant.resources?.limits?.cpu ?? variant.resources?.requests?.cpu ?? DEFAULT_REQUESTS.cpu;
}

function resources(variant: VariantSpec) {
  const requests = { ...DEFAULT_REQUESTS, ...variant.resources?.requests };
  const limits: Record<string, string> = { ...variant.resources?.limits };
  if (variant.placement === 'gpu') limits[GPU_RESOURCE] = '1';
  return Object.keys(limits).length > 0 ? { requests, limits } : { requests };
}

export function variantDeployment(cascade: InferenceCascade, variant: VariantSpec, options: BuildOptions) {
  const labels = variantLabels(cascade, variant);
  const models = modelVolumes(cascade);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(cascade, variantObjectName(cascade, variant), labels),
    spec: {
      replicas: variant.replicas,
      selector: { matchLabels: selectorLabels(cascade, variant) },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          securityContext: restrictedPodSecurityContext,
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          ...placementPodSpec(variant.placement),
          containers: [{
            name: 'variant-server',
            image: options.variantImage,
            args: [`--port=${options.httpPort}`, `--shutdown-delay-ms=${SHUTDOWN_DELAY_MS}`],
            env: [
              { name: 'CASCADE_NAME', value: cascade.metadata.name },
              { name: 'VARIANT_ROLE', value: variant.role },
              { name: 'VARIANT_NAME', value: variantName(variant) },
              { name: 'MODEL_URI', value: variant.model.uri },
              { name: 'MODEL_VERSION', value: variant.model.version ?? '1' },
            ],
            ports: [{ name: 'http', containerPort: options.httpPort, protocol: 'TCP' }],
            readinessProbe: { httpGet: { path: '/v2/health/ready', port: 'http' }, periodSeconds: 5 },
            livenessProbe: { httpGet: { path: '/v2/health/live', port: 'http' }, periodSeconds: 10 },
            resources: resources(variant),
            securityContext: restrictedContainerSecurityContext,
            ...(models.volumeMounts.length > 0 ? { volumeMounts: models.volumeMounts } : {}),
          }],
          ...(models.volumes.length > 0 ? { volumes: models.volumes } : {}),
        },
      },
    },
  };
}

export function variantService(cascade: InferenceCascade, variant: VariantSpec, options: BuildOptions) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(cascade, variantObjectName(cascade, variant), variantLabels(cascade, variant)),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cascade, variant),
      ports: [{ name: 'http', port: options.httpPort, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
