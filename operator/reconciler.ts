// One level-based, idempotent pass for one cascade: read it from the informer cache, apply the
// children that differ from the desired state (server-side apply, one field manager), delete
// children it no longer wants, and write status only when it changed.
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type InferenceCascade } from '../crds/types.js';
import { CASCADE_LABEL, desiredChildren, FIELD_MANAGER, type BuildOptions, type ChildObject } from './desired/index.js';
import { containsDesired, needsReplacement } from './diff.js';
import type { EventRecorder } from './events.js';
import { namespaceTerminating, statusCode, type KubeClients } from './kube.js';
import { errorMessage, type Logger } from '../common/logger.js';
import type { OperatorMetrics } from './metrics.js';
import { awaitingAppliedGeneration, computeStatus, type AppliedDeployment, type ObservedDeployment } from './status.js';
import type { HandlerResult } from './workqueue.js';

const OWNED_API_VERSIONS = { Deployment: 'apps/v1', Service: 'v1', ConfigMap: 'v1', ServiceAccount: 'v1', RoleBinding: 'rbac.authorization.k8s.io/v1' } as const;
export type OwnedKind = keyof typeof OWNED_API_VERSIONS;
export const OWNED_KINDS = Object.keys(OWNED_API_VERSIONS) as OwnedKind[];

export interface ObjectCache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface ReconcilerDeps {
  cascades: ObjectCache<InferenceCascade>;
  children: Record<OwnedKind, ObjectCache<KubernetesObject>>;
  clients: Pick<KubeClients, 'objects' | 'custom'>;
  events: EventRecorder;
  metrics: OperatorMetrics;
  options: BuildOptions;
  logger: Logger;
  now?: () => Date;
  /** Checked before every write: only the Lease holder writes. */
  canWrite: () => boolean;
}

type ChildChange = 'Created' | 'Updated' | 'Unchanged';

export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: write skipped');
  }
}

const ownedBy = (obj: KubernetesObject, cascade: InferenceCascade): boolean =>
  (obj.metadata?.ownerReferences ?? []).some((ref) => ref.controller && ref.uid === cascade.metadata.uid);

/** List responses carry apiVersion and kind only on the list, not on its items. */
export function withoutTypeMeta<T extends { apiVersion?: string; kind?: string }>(obj: T): Omit<T, 'apiVersion' | 'kind'> {
  const { apiVersion: _apiVersion, kind: _kind, ...rest } = obj;
  return rest;
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b)))
      : v);
}

export class Reconciler {
  /**
   * Deployments this operator applied that the informer cache may not show yet, per cascade
   * (namespace/name) and Deployment name; dropped with the cascade.
   */
  private readonly applied = new Map<string, Map<string, AppliedDeployment>>();

  constructor(private readonly deps: ReconcilerDeps) {}

  private appliedOf(cascade: InferenceCascade): Map<string, AppliedDeployment> {
    const key = `${cascade.metadata.namespace}/${cascade.metadata.name}`;
    let applied = this.applied.get(key);
    if (!applied) this.applied.set(key, (applied = new Map()));
    return applied;
  }

  private observedDeployment(cascade: InferenceCascade, name: string): ObservedDeployment | undefined {
    const applied = this.appliedOf(cascade);
    const cached = this.deps.children.Deployment.get(name, cascade.metadata.namespace) as ObservedDeployment | undefined;
    const judged = awaitingAppliedGeneration(cached, applied.get(name));
    if (judged === cached) applied.delete(name); // the cache has caught up
    return judged;
  }

  async reconcile(key: string): Promise<HandlerResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const cascade = this.deps.cascades.get(name, namespace);
    if (!cascade || cascade.metadata.deletionTimestamp) {
      this.applied.delete(key);
      return 'done';
    }
    const log = this.deps.logger.child({ cascade: key, generation: cascade.metadata.generation });

    const desired = desiredChildren(cascade, this.deps.options);
    // The children are independent objects: applying them concurrently keeps one cascade's
    // pass to about one API round trip.
    const results = await Promise.allSettled(desired.map((child) => this.ensureChild(cascade, child, log)));
    this.recordChanges(cascade, desired, results);
    const rejections = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (rejections.some((e) => e instanceof NotLeaderError)) return 'done';
    // The namespace is going away, and the cascade with it: nothing to retry.
    if (rejections.length > 0 && rejections.every(namespaceTerminating)) return 'done';
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${desired[i]!.kind} ${desired[i]!.metadata.name}: ${errorMessage(r.reason)}`] : []));
    const applyError = failures.length > 0 ? failures.join('; ') : undefined;
    if (applyError) {
      log.warn('apply failed', { error: applyError });
      this.deps.events.record(cascade, 'Warning', 'ApplyFailed', applyError);
    } else {
      await this.deleteUnwanted(cascade, desired, log);
    }

    const result = await this.writeStatus(cascade, applyError, log);
    if (applyError) throw new Error(applyError);
    return result;
  }

  private async ensureChild(cascade: InferenceCascade, child: ChildObject, log: Logger): Promise<ChildChange> {
    const kind = child.kind as OwnedKind;
    let observed = this.deps.children[kind].get(child.metadata.name, child.metadata.namespace);
    if (observed && !ownedBy(observed, cascade)) {
      throw new Error(`exists and is not controlled by InferenceCascade ${cascade.metadata.name}; refusing to take it over`);
    }
    if (observed && containsDesired(observed, withoutTypeMeta(child))) return 'Unchanged';
    this.assertLeader();
    if (observed && needsReplacement(observed, child)) {
      await this.deleteChild(kind, child.metadata.name, child.metadata.namespace);
      log.info('deleted child to replace an immutable field', { kind, name: child.metadata.name });
      observed = undefined;
    }
    const applied = await this.deps.clients.objects.patch(child as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    this.deps.metrics.apiWrites.inc({ verb: 'apply', kind });
    if (kind === 'Deployment') {
      const { uid, generation } = (applied as ObservedDeployment | undefined)?.metadata ?? {};
      if (uid !== undefined && generation !== undefined) this.appliedOf(cascade).set(child.metadata.name, { uid, generation });
      else this.appliedOf(cascade).delete(child.metadata.name);
    }
    const change = observed ? 'Updated' : 'Created';
    log.info(`${change.toLowerCase()} child`, { kind, name: child.metadata.name });
    return change;
  }

  /** One Event per pass and kind of change, not one per child: fewer writes for the same story. */
  private recordChanges(cascade: InferenceCascade, desired: ChildObject[], results: PromiseSettledResult<ChildChange>[]): void {
    for (const change of ['Created', 'Updated'] as const) {
      const names = results.flatMap((r, i) => (r.status === 'fulfilled' && r.value === change ? [`${desired[i]!.kind} ${desired[i]!.metadata.name}`] : []));
      if (names.length > 0) this.deps.events.record(cascade, 'Normal', change, `${change} ${names.join(', ')}`);
    }
  }

  private async deleteChild(kind: OwnedKind, name: string, namespace: string): Promise<void> {
    try {
      await this.deps.clients.objects.delete({ apiVersion: OWNED_API_VERSIONS[kind], kind, metadata: { name, namespace } });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    this.deps.metrics.apiWrites.inc({ verb: 'delete', kind });
  }

  private async deleteUnwanted(cascade: InferenceCascade, desired: ChildObject[], log: Logger): Promise<void> {
    const wanted = new Set(desired.map((c) => `${c.kind}/${c.metadata.name}`));
    for (const kind of OWNED_KINDS) {
      const unwanted = this.deps.children[kind].list(cascade.metadata.namespace).filter((obj) =>
        obj.metadata?.labels?.[CASCADE_LABEL] === cascade.metadata.name && ownedBy(obj, cascade) &&
        !wanted.has(`${kind}/${obj.metadata?.name}`));
      for (const obj of unwanted) {
        this.assertLeader();
        await this.deleteChild(kind, obj.metadata!.name!, cascade.metadata.namespace);
        if (kind === 'Deployment') this.appliedOf(cascade).delete(obj.metadata!.name!);
        log.info('deleted child no longer wanted', { kind, name: obj.metadata?.name });
        this.deps.events.record(cascade, 'Normal', 'Deleted', `Deleted ${kind} ${obj.metadata?.name}`);
      }
    }
  }

  private async writeStatus(cascade: InferenceCascade, applyError: string | undefined, log: Logger): Promise<HandlerResult> {
    const status = computeStatus({
      cascade,
      deployments: (name) => this.observedDeployment(cascade, name),
      options: this.deps.options,
      ...(applyError ? { applyError } : {}),
      now: this.deps.now?.() ?? new Date(),
    });
    if (canonicalJson(status) === canonicalJson(cascade.status ?? {})) return 'done';
    this.assertLeader();
    try {
      // A replace carries the cached resourceVersion: a stale cache gets 409 and the key is retried.
      await this.deps.clients.custom.replaceNamespacedCustomObjectStatus({
        group: GROUP, version: VERSION, plural: PLURAL,
        namespace: cascade.metadata.namespace, name: cascade.metadata.name,
        body: { ...cascade, status },
      });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) return 'done';
      if (code === 409) {
        log.debug('status write conflicted, retrying with a fresher copy');
        return 'requeue';
      }
      throw err;
    }
    this.deps.metrics.apiWrites.inc({ verb: 'update', kind: 'InferenceCascade/status' });
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    const wasReady = cascade.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready && ready.status !== wasReady?.status) {
      log.info('readiness changed', { ready: ready.status, reason: ready.reason });
      this.deps.events.record(cascade, ready.status === 'False' ? 'Warning' : 'Normal', ready.reason, ready.message);
    }
    return 'done';
  }

  private assertLeader(): void {
    if (!this.deps.canWrite()) throw new NotLeaderError();
  }
}
