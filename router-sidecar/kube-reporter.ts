// Inside a cluster the agent's actions reach Kubernetes: an Event on the InferenceCascade and the
// cache-state annotation the operator turns into the CacheDegraded condition.
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { errorMessage, type Logger } from '../common/logger.js';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type InferenceCascade } from '../crds/types.js';
import { KubeEventRecorder } from '../operator/events.js';
import { createClients, loadKubeConfig } from '../operator/kube.js';
import { CACHE_STATE_ANNOTATION } from '../operator/status.js';
import { REUSE_DISABLED_EVENT } from './agent/controller.js';

export interface KubeReporter {
  emitEvent(reason: string, message: string): Promise<void>;
  reportCacheState(reuseEnabled: boolean, reason: string): Promise<void>;
}

export interface KubeReporterOptions {
  /** A kubeconfig file; in-cluster credentials when omitted. */
  kubeconfig?: string;
  namespace: string;
  name: string;
  instance: string;
  logger: Logger;
}

export async function createKubeReporter(options: KubeReporterOptions): Promise<KubeReporter> {
  const { namespace, name, logger } = options;
  const clients = createClients(loadKubeConfig(options.kubeconfig));
  const cascade = (await clients.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as InferenceCascade;
  // Every flip is news: no de-duplication window (the agent only acts on changes anyway).
  const recorder = new KubeEventRecorder(clients.core, 'inference-cascade-router', options.instance, logger, 0);
  return {
    async emitEvent(reason, message) {
      recorder.record(cascade, reason === REUSE_DISABLED_EVENT ? 'Warning' : 'Normal', reason, message);
    },
    async reportCacheState(reuseEnabled, reason) {
      const patch: KubernetesObject = {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace, annotations: { [CACHE_STATE_ANNOTATION]: JSON.stringify({ reuse: reuseEnabled ? 'Enabled' : 'Disabled', reason }) } },
      };
      try {
        await clients.objects.patch(patch, undefined, undefined, 'inference-cascade-router', undefined, PatchStrategy.MergePatch);
      } catch (error) {
        logger.warn('could not report the cache state on the cascade', { cascade: `${namespace}/${name}`, error: errorMessage(error) });
      }
    },
  };
}
