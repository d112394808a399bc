// Where a variant's pods may run. The GPU node label and taint follow the NVIDIA GPU operator's
// conventions (nvidia.com/gpu.present=true, taint nvidia.com/gpu=present:NoSchedule).
import type { Placement } from '../../crds/types.js';

export const GPU_RESOURCE = 'nvidia.com/gpu';
export const GPU_NODE_LABEL = 'nvidia.com/gpu.present';
export const GPU_TAINT = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' } as const;

export function placementPodSpec(placement: Placement) {
  if (placement === 'gpu') {
    return {
      nodeSelector: { [GPU_NODE_LABEL]: 'true' },
      tolerations: [{ key: GPU_TAINT.key, operator: 'Exists', effect: GPU_TAINT.effect }],
    };
  }
  return {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: GPU_NODE_LABEL, operator: 'DoesNotExist' }] }],
        },
      },
    },
  };
}
