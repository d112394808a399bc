// An informer that keeps itself alive. client-node's ListWatch stops for good on any error but
// 410 Gone (kubernetes-client/javascript #596, #958); this wrapper restarts it with exponential
// backoff, resuming from the last resourceVersion (or relisting after a 410, which diffs the cache
// and reports deletions), and a watchdog restarts a watch that has gone quiet for too long.
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/logger.js';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface ResilientInformerOptions<T extends KubernetesObject> {
  resource: string;
  kubeConfig: KubeConfig;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  onEvent: (event: InformerEvent, obj: T) => void;
  logger: Logger;
  onRestart?: () => void;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Restart when neither an event nor a (re)connect was seen for this long. */
  watchdogMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly informer;
  private stopped = true;
  private failures = 0;
  private lastActivity = Date.now();
  private lastStart = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private ignoreErrorsUntil = 0;
  private synced = false;
  private readonly firstList: Promise<void>;

  constructor(private readonly options: ResilientInformerOptions<T>) {
    let listed: () => void = () => {};
    this.firstList = new Promise((resolve) => { listed = resolve; });
    const list = async () => {
      const result = await options.list();
      listed();
      return result;
    };
    this.informer = makeInformer<T>(options.kubeConfig, options.path, list, options.labelSelector);
    const touch = (event: InformerEvent) => (obj: T) => {
      this.lastActivity = Date.now();
      // managedFields are the bulk of an applied object and the operator never reads them; the
      // cache holds this very object, so dropping them here saves memory (as controller-runtime's
      // TransformStripManagedFields does).
      if (obj.metadata) delete obj.metadata.managedFields;
      options.onEvent(event, obj);
    };
    this.informer.on('add', touch('add'));
    this.informer.on('update', touch('update'));
    this.informer.on('delete', touch('delete'));
    this.informer.on('connect', () => { this.lastActivity = Date.now(); });
    this.informer.on('error', (err) => this.onError(err));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  /** Lists, starts watching, and resolves once the cache holds the initial list. */
  async start(): Promise<void> {
    this.stopped = false;
    this.lastStart = Date.now();
    this.lastActivity = Date.now();
    await this.informer.start();
    await this.firstList;
    this.synced = true;
    const watchdogMs = this.options.watchdogMs ?? 5 * 60_000;
    this.watchdogTimer ??= setInterval(() => {
      if (!this.stopped && this.restartTimer === undefined && Date.now() - this.lastActivity > watchdogMs) {
        this.options.logger.warn('watch silent, restarting', { resource: this.options.resource, silentMs: Date.now() - this.lastActivity });
        void this.restart(true);
      }
    }, Math.min(watchdogMs, 30_000)).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdogTimer);
    this.restartTimer = undefined;
    this.watchdogTimer = undefined;
    await this.informer.stop();
  }

  private onError(err: unknown): void {
    if (this.stopped || Date.now() < this.ignoreErrorsUntil) return;
    // A watch that ran fine for a while before failing starts its backoff afresh.
    if (Date.now() - this.lastStart > 60_000) this.failures = 0;
    const base = this.options.backoffBaseMs ?? 500;
    const delay = Math.min(base * 2 ** this.failures, this.options.backoffMaxMs ?? 30_000) * (0.8 + 0.4 * Math.random());
    this.failures++;
    this.options.logger.warn('informer stopped, restarting', {
      resource: this.options.resource, error: errorMessage(err), attempt: this.failures, delayMs: Math.round(delay),
    });
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
    this.restartTimer.unref();
  }

  /** After an error the ListWatch has already stopped itself; a silent watch must be stopped first. */
  private async restart(stopFirst = false): Promise<void> {
    if (this.stopped) return;
    this.options.onRestart?.();
    this.lastStart = Date.now();
    this.lastActivity = Date.now();
    try {
      if (stopFirst) {
        // Aborting the old watch reports an error asynchronously; it is expected, not a failure.
        this.ignoreErrorsUntil = Date.now() + 1000;
        await this.informer.stop();
        await sleep(250);
        if (this.stopped) return;
      }
      await this.informer.start();
    } catch (err) {
      this.onError(err);
    }
  }
}
