// Wires informers to the work queue and the queue to the reconciler. Informers run on every
// replica (a warm cache makes failover fast); workers run only while this replica leads.
import type { KubernetesListObject, KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION, type InferenceCascade } from '../crds/types.js';
import { OWNED_SELECTOR, type BuildOptions } from './desired/index.js';
import type { EventRecorder } from './events.js';
import { ResilientInformer, type InformerEvent } from './informer.js';
import type { KubeClients } from './kube.js';
import { errorMessage, type Logger } from '../common/logger.js';
import type { OperatorMetrics } from './metrics.js';
import { OWNED_KINDS, Reconciler, type OwnedKind } from './reconciler.js';
import { WorkQueue } from './workqueue.js';

export interface ControllerOptions {
  workers: number;
  /** Every cascade is reconciled at least this often, whatever the watches say. */
  resyncPeriodMs: number;
  watchdogMs: number;
}

export interface ControllerDeps {
  clients: KubeClients;
  events: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  build: BuildOptions;
  options: ControllerOptions;
  canWrite: () => boolean;
}

const asList = <T>(body: unknown) => body as KubernetesListObject<T & KubernetesObject>;

const keyOf = (obj: KubernetesObject): string => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

export class CascadeController {
  readonly queue: WorkQueue;
  private readonly cascades: ResilientInformer<InferenceCascade & KubernetesObject>;
  private readonly children: Record<OwnedKind, ResilientInformer<KubernetesObject>>;
  private readonly reconciler: Reconciler;
  private resyncTimer: NodeJS.Timeout | undefined;
  private workers: Promise<void> | undefined;

  constructor(private readonly deps: ControllerDeps) {
    const { clients, logger, metrics } = deps;
    this.queue = new WorkQueue({
      onError: (key, err) => {
        metrics.reconcileErrors.inc({ reason: 'error' });
        logger.warn('reconcile failed, retrying with backoff', { cascade: key, error: errorMessage(err), requeues: this.queue.numRequeues(key) });
      },
    });
    const informer = <T extends KubernetesObject>(resource: string, path: string, list: () => Promise<KubernetesListObject<T>>, onEvent: (event: InformerEvent, obj: T) => void, labelSelector?: string) =>
      new ResilientInformer<T>({
        resource, kubeConfig: clients.kubeConfig, path, list, onEvent, logger,
        ...(labelSelector ? { labelSelector } : {}),
        watchdogMs: deps.options.watchdogMs,
        onRestart: () => metrics.informerRestarts.inc({ resource }),
      });

    this.cascades = informer('inferencecascades', `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      async () => asList<InferenceCascade>(await clients.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })),
      (_event, obj) => this.enqueue(keyOf(obj)));
    const enqueueOwner = (_event: InformerEvent, obj: KubernetesObject) => {
      const owner = obj.metadata?.ownerReferences?.find((ref: V1OwnerReference) => ref.controller && ref.kind === KIND && ref.apiVersion.startsWith(`${GROUP}/`));
      if (owner) this.enqueue(`${obj.metadata?.namespace}/${owner.name}`);
    };
    this.children = {
      Deployment: informer('deployments', '/apis/apps/v1/deployments',
        async () => asList(await clients.apps.listDeploymentForAllNamespaces({ labelSelector: OWNED_SELECTOR })), enqueueOwner, OWNED_SELECTOR),
      Service: informer('services', '/api/v1/services',
        async () => asList(await clients.core.listServiceForAllNamespaces({ labelSelector: OWNED_SELECTOR })), enqueueOwner, OWNED_SELECTOR),
      ConfigMap: informer('configmaps', '/api/v1/configmaps',
        async () => asList(await clients.core.listConfigMapForAllNamespaces({ labelSelector: OWNED_SELECTOR })), enqueueOwner, OWNED_SELECTOR),
      ServiceAccount: informer('serviceaccounts', '/api/v1/serviceaccounts',
        async () => asList(await clients.core.listServiceAccountForAllNamespaces({ labelSelector: OWNED_SELECTOR })), enqueueOwner, OWNED_SELECTOR),
      RoleBinding: informer('rolebindings', '/apis/rbac.authorization.k8s.io/v1/rolebindings',
        async () => asList(await clients.rbac.listRoleBindingForAllNamespaces({ labelSelector: OWNED_SELECTOR })), enqueueOwner, OWNED_SELECTOR),
    };
    this.reconciler = new Reconciler({
      cascades: this.cascades,
      children: this.children,
      clients,
      events: deps.events,
      metrics,
      options: deps.build,
      logger,
      canWrite: deps.canWrite,
    });
    metrics.setGaugeSources({
      queueDepth: () => this.queue.length,
      cascades: () => {
        const all = this.cascades.list();
        return { ready: all.filter((c) => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length, total: all.length };
      },
    });
  }

  get synced(): boolean {
    return this.cascades.hasSynced && OWNED_KINDS.every((kind) => this.children[kind].hasSynced);
  }

  /** Starts the informers and resolves when every cache holds its initial list. */
  async startInformers(): Promise<void> {
    await Promise.all([this.cascades.start(), ...OWNED_KINDS.map((kind) => this.children[kind].start())]);
    this.resyncTimer = setInterval(() => this.resyncAll(), this.deps.options.resyncPeriodMs);
    this.resyncTimer.unref();
  }

  /** Runs the reconcile workers until stopWorkers(). Only the leader calls this. */
  startWorkers(): void {
    this.resyncAll();
    this.workers ??= this.queue.run(this.deps.options.workers, async (key) => {
      const stopTimer = this.deps.metrics.reconcileDuration.startTimer();
      try {
        const result = await this.reconciler.reconcile(key);
        this.deps.metrics.reconcileTotal.inc({ result: result === 'done' ? 'success' : 'requeue' });
        this.deps.logger.debug('reconciled', { cascade: key, result: typeof result === 'string' ? result : 'requeueAfter' });
        return result;
      } catch (err) {
        this.deps.metrics.reconcileTotal.inc({ result: 'error' });
        throw err;
      } finally {
        stopTimer();
      }
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    await this.queue.shutDownAndDrain();
    await Promise.all([this.cascades.stop(), ...OWNED_KINDS.map((kind) => this.children[kind].stop())]);
  }

  private enqueue(key: string): void {
    this.queue.add(key);
  }

  private resyncAll(): void {
    for (const cascade of this.cascades.list()) this.enqueue(keyOf(cascade));
  }
}
