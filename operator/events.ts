// Kubernetes Events for what the operator does to a cascade. Identical events for one object are
// sent once per window, so a flapping child cannot flood the API server.
import type { CoreV1Api } from '@kubernetes/client-node';
import { API_VERSION, KIND, type InferenceCascade } from '../crds/types.js';
import { errorMessage, type Logger } from '../common/logger.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(cascade: InferenceCascade, type: EventType, reason: string, message: string): void;
}

export class KubeEventRecorder implements EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly component: string,
    private readonly instance: string,
    private readonly logger: Logger,
    private readonly windowMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  record(cascade: InferenceCascade, type: EventType, reason: string, message: string): void {
    const key = `${cascade.metadata.uid}/${type}/${reason}/${message}`;
    const last = this.recent.get(key);
    if (last !== undefined && this.now() - last < this.windowMs) return;
    this.recent.set(key, this.now());
    if (this.recent.size > 10_000) this.recent.delete(this.recent.keys().next().value!);
    const time = new Date(this.now());
    const { name, namespace, uid, resourceVersion } = cascade.metadata;
    this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${name}.`, namespace },
        involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid, resourceVersion },
        type,
        reason,
        message,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.instance,
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      },
    }).catch((err: unknown) => {
      // Not sent: let the next identical event try again.
      this.recent.delete(key);
      this.logger.warn('could not record event', { reason, cascade: `${namespace}/${name}`, error: errorMessage(err) });
    });
  }
}
