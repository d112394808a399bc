// Where the pods read models: every model URI names a folder under /models (the CRD allows no
// other), so a cascade's spec.modelVolume, a Kubernetes volume source (a PVC, NFS, CSI, an image
// volume...), is mounted there read-only in the variant pods and the router pods (the router reads
// each variant's head, the distilled model and the learned policy). Without it, /models comes
// from the images.
import type { InferenceCascade } from '../../crds/types.js';

export const MODELS_MOUNT = '/models';
const VOLUME_NAME = 'models';

export function modelVolumes(cascade: InferenceCascade): { volumes: Record<string, unknown>[]; volumeMounts: Record<string, unknown>[] } {
  const source = cascade.spec.modelVolume;
  if (!source) return { volumes: [], volumeMounts: [] };
  return {
    volumes: [{ name: VOLUME_NAME, ...source }],
    volumeMounts: [{ name: VOLUME_NAME, mountPath: MODELS_MOUNT, readOnly: true }],
  };
}
