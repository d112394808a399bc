// Reads the cascade's variant pods from metrics.k8s.io every interval and feeds their CPU
// utilisation to the load tracker. Each change of state (API missing, forbidden, back) is logged
// once, not once per poll.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { errorMessage, type Logger } from '../../common/logger.js';
import { ROLES, type Role } from '../../crds/types.js';
import { loadKubeConfig, statusCode } from '../../operator/kube.js';
import type { LoadTracker } from './load-tracker.js';
import { cpuUtilizationByRole, podMetricsFailure, type PodMetrics } from './pod-cpu.js';

export type PodCpuPollResult = 'ok' | 'unavailable' | 'forbidden' | 'error';

export interface PodCpuPollerOptions {
  /** One call to metrics.k8s.io for the cascade's variant pods. */
  list: () => Promise<PodMetrics[]>;
  /** Each variant's per-pod CPU capacity, read from the current config (it can be reloaded). */
  cpuMillis: () => Partial<Record<Role, number>>;
  load: LoadTracker;
  intervalMs: number;
  logger: Logger;
  onPoll?: (result: PodCpuPollResult) => void;
}

const EXPLANATION: Record<Exclude<PodCpuPollResult, 'ok'>, string> = {
  unavailable: 'the metrics.k8s.io API is not served (is metrics-server installed and running?)',
  forbidden: 'the router may not read metrics.k8s.io pods (its ClusterRole grants get and list)',
  error: 'reading metrics.k8s.io failed',
};

/** Lists the variant pods of one cascade through client-node. */
export function metricsApiLister(kubeconfig: string | undefined, namespace: string, cascade: string): () => Promise<PodMetrics[]> {
  const labelSelector = `app.kubernetes.io/instance=${cascade},app.kubernetes.io/component=variant`;
  let custom: CustomObjectsApi | undefined;
  return async () => {
    // Made on first use, so unreadable credentials cost this signal (reported as an error by the
    // poller), not the router's start.
    custom ??= loadKubeConfig(kubeconfig).makeApiClient(CustomObjectsApi);
    const list = (await custom.listNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace, plural: 'pods', labelSelector })) as { items?: PodMetrics[] };
    return list.items ?? [];
  };
}

export class PodCpuPoller {
  private last: PodCpuPollResult | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly options: PodCpuPollerOptions) {}

  get state(): PodCpuPollResult | undefined {
    return this.last;
  }

  async poll(): Promise<PodCpuPollResult> {
    const { load, logger } = this.options;
    let result: PodCpuPollResult;
    let detail: string | undefined;
    try {
      const utilization = cpuUtilizationByRole(await this.options.list(), this.options.cpuMillis());
      for (const role of ROLES) load.setCpuUtilization(role, utilization[role] ?? Number.NaN);
      result = 'ok';
    } catch (error) {
      for (const role of ROLES) load.setCpuUtilization(role, Number.NaN);
      result = podMetricsFailure(statusCode(error));
      detail = errorMessage(error);
    }
    if (result !== this.last) {
      if (result === 'ok') logger.info('pod CPU from metrics.k8s.io is available', { previously: this.last ?? 'unknown' });
      else logger.warn(`pod CPU signal missing: ${EXPLANATION[result]}; routing goes on with the other load signals`, { error: detail });
      this.last = result;
    }
    this.options.onPoll?.(result);
    return result;
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.poll();
    } finally {
      this.running = false;
    }
  }
}
