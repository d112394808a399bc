import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectRuntimeMetrics } from '../common/default-metrics.js';

export interface VariantMetrics {
  registry: Registry;
  inFlight: Gauge<string>;
  queueDepth: Gauge<string>;
  requestDuration: Histogram<'endpoint'>;
  batchSize: Histogram<'graph'>;
  batchRequests: Histogram<'graph'>;
  errors: Counter<'code' | 'endpoint'>;
  requests: Counter<'endpoint' | 'model'>;
  /** Until called, the queue depth gauge reads 0. */
  setQueueDepthSource(source: () => number): void;
}

const PREFIX = 'inference_cascade_variant_';

/** A private registry per server instance, never the global one. */
export function createVariantMetrics(): VariantMetrics {
  const registry = new Registry();
  collectRuntimeMetrics(registry, PREFIX);
  const opts = { registers: [registry] };
  let queueDepthSource: (() => number) | undefined;
  const batchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];
  return {
    registry,
    setQueueDepthSource: (source) => {
      queueDepthSource = source;
    },
    inFlight: new Gauge({
      name: `${PREFIX}requests_in_flight`,
      help: 'Inference requests being handled (parsed, queued, running or being answered).',
      ...opts,
    }),
    queueDepth: new Gauge({
      name: `${PREFIX}queue_depth`,
      help: 'Inference requests waiting for the model: in an open batch or behind the running session.',
      ...opts,
      collect() {
        this.set(queueDepthSource?.() ?? 0);
      },
    }),
    requestDuration: new Histogram({
      name: `${PREFIX}request_duration_seconds`,
      help: 'Time from request received to response sent, by endpoint.',
      labelNames: ['endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      ...opts,
    }),
    batchSize: new Histogram({
      name: `${PREFIX}batch_size`,
      help: 'Rows per model run, by graph (model, encoder, head).',
      labelNames: ['graph'],
      buckets: batchBuckets,
      ...opts,
    }),
    batchRequests: new Histogram({
      name: `${PREFIX}batch_requests`,
      help: 'Requests merged into one model run, by graph.',
      labelNames: ['graph'],
      buckets: batchBuckets,
      ...opts,
    }),
    errors: new Counter({
      name: `${PREFIX}errors_total`,
      help: 'Responses with an HTTP status of 400 or more, by status code and endpoint (a readiness probe answers 503 while the model loads or the server drains: endpoint health_ready).',
      labelNames: ['code', 'endpoint'],
      ...opts,
    }),
    requests: new Counter({
      name: `${PREFIX}requests_total`,
      help: 'Requests by endpoint and model name.',
      labelNames: ['endpoint', 'model'],
      ...opts,
    }),
  };
}
