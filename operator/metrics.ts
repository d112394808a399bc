import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectRuntimeMetrics } from '../common/default-metrics.js';

/** Read at scrape time, so nothing on the reconcile path keeps gauges up to date. */
export interface GaugeSources {
  queueDepth(): number;
  cascades(): { ready: number; total: number };
}

export interface OperatorMetrics {
  registry: Registry;
  reconcileTotal: Counter<'result'>;
  reconcileErrors: Counter<'reason'>;
  reconcileDuration: Histogram<string>;
  queueDepth: Gauge<string>;
  apiWrites: Counter<'verb' | 'kind'>;
  informerRestarts: Counter<'resource'>;
  isLeader: Gauge<string>;
  cascades: Gauge<'ready'>;
  /** Called once the controller exists; until then the gauges read 0. */
  setGaugeSources(sources: GaugeSources): void;
}

/** A private registry per operator instance, never the global one. */
export function createOperatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectRuntimeMetrics(registry, 'inference_cascade_operator_');
  const opts = { registers: [registry] };
  let sources: GaugeSources | undefined;
  return {
    setGaugeSources: (s) => { sources = s; },
    registry,
    reconcileTotal: new Counter({ name: 'inference_cascade_operator_reconcile_total', help: 'Reconcile passes by result (success, requeue, error).', labelNames: ['result'], ...opts }),
    reconcileErrors: new Counter({ name: 'inference_cascade_operator_reconcile_errors_total', help: 'Failed reconcile passes by reason.', labelNames: ['reason'], ...opts }),
    reconcileDuration: new Histogram({ name: 'inference_cascade_operator_reconcile_duration_seconds', help: 'Time spent in one reconcile pass.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], ...opts }),
    queueDepth: new Gauge({
      name: 'inference_cascade_operator_workqueue_depth', help: 'Keys waiting in the work queue.', ...opts,
      collect() { this.set(sources?.queueDepth() ?? 0); },
    }),
    apiWrites: new Counter({ name: 'inference_cascade_operator_api_writes_total', help: 'Write calls made to the API server, by verb and kind.', labelNames: ['verb', 'kind'], ...opts }),
    informerRestarts: new Counter({ name: 'inference_cascade_operator_informer_restarts_total', help: 'Informer restarts after a watch or list error.', labelNames: ['resource'], ...opts }),
    isLeader: new Gauge({ name: 'inference_cascade_operator_leader', help: '1 while this replica holds the leader Lease.', ...opts }),
    cascades: new Gauge({
      name: 'inference_cascade_operator_cascades', help: 'Cascades known to the operator, by readiness.', labelNames: ['ready'], ...opts,
      collect() {
        const { ready, total } = sources?.cascades() ?? { ready: 0, total: 0 };
        this.set({ ready: 'true' }, ready);
        this.set({ ready: 'false' }, total - ready);
      },
    }),
  };
}
