// The router's inference port on fastify: the prototype's POST /predict, OIP v2 infer on the
// cascade's model name, health and readiness, /metrics and a read-only /status. Admin endpoints
// are on their own port (admin-server.ts), never here.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { installJsonHandling, JSON_SERVER_OPTIONS, RequestError, RETRY_AFTER_SECONDS } from '../common/http-json.js';
import type { Logger } from '../common/logger.js';
import { ROLES } from '../crds/types.js';
import { formatInferResponse, parseInferRequest, type EndpointSpec } from '../variant-server/oip.js';
import { parsePredictRequest } from '../variant-server/predict.js';
import { toRows } from '../variant-server/tensors.js';
import { RoutingError } from './forwarding/forwarder.js';
import { parseHints } from './hints.js';
import type { OverloadGuard } from './load/overload-guard.js';
import type { RouterMetrics } from './metrics.js';
import type { RouteResult, Router } from './router.js';

/** nginx's status for a request its client closed before the answer; never sent, only counted. */
const CLIENT_CLOSED_REQUEST = 499;

export interface RouterServerOptions {
  router: Router;
  metrics: RouterMetrics;
  logger: Logger;
  bodyLimitBytes: number;
  ready: () => boolean;
  /** State of the metrics.k8s.io pod CPU signal, for /status. */
  podCpuSignal?: () => string;
  /** Per-variant load as the policy sees it, for /status. */
  load: () => unknown;
  /** Refuses a share of inference requests (429) while the router's own event loop runs late. */
  overload?: OverloadGuard;
}

export function createRouterServer(options: RouterServerOptions): FastifyInstance {
  const { router, metrics, logger } = options;
  const app = Fastify({ bodyLimit: options.bodyLimitBytes, logger: false, forceCloseConnections: 'idle', ...JSON_SERVER_OPTIONS });
  installJsonHandling(app, { bodyLimit: options.bodyLimitBytes, logger });

  const endpointSpec = (): EndpointSpec => ({
    name: router.config.cascade.name,
    version: '1',
    input: { name: 'features', width: router.config.inputDim },
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, -1] },
      { name: 'prediction', datatype: 'INT64', shape: [-1] },
    ],
  });

  // Every inference request is counted once, with its status: answered, refused as overloaded,
  // failed upstream, rejected as bad input before routing (400, 404, 413, 415), or abandoned by
  // its client before the answer (499, as nginx logs it: no response is ever finished for it).
  const served = new WeakMap<FastifyRequest, RouteResult>();
  const counted = new WeakSet<FastifyRequest>();
  const countOnce = (request: FastifyRequest, code: number) => {
    if (counted.has(request)) return;
    counted.add(request);
    const result = served.get(request);
    const cache = result ? (result.cacheHit ? 'hit' : 'miss') : 'none';
    metrics.requests.inc({ variant: result?.role ?? 'none', cache, code: String(code) });
    if (result && code < 400) metrics.requestDuration.observe({ variant: result.role, cache }, result.latencyMs / 1000);
  };
  const count = async (request: FastifyRequest, reply: FastifyReply) => countOnce(request, reply.statusCode);
  const watchAbandon = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) countOnce(request, CLIENT_CLOSED_REQUEST);
    });
  };

  const routeOrExplain = async (features: Float32Array, rows: number, request: FastifyRequest): Promise<RouteResult> => {
    try {
      const result = await router.route(features, rows, parseHints(request.headers));
      served.set(request, result);
      return result;
    } catch (error) {
      if (error instanceof RoutingError) {
        logger.warn('request not served', { status: error.statusCode, error: error.message });
        throw new RequestError(error.statusCode, error.message, error.statusCode === 429 ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {});
      }
      throw error;
    }
  };

  // Before the body is read or parsed, and replied to directly rather than through the error
  // handler: a refused request should cost as little as possible (measured here: about 50 us of
  // CPU, against 80 us when thrown, and 250 to 300 us to serve one).
  const admit = async (_request: FastifyRequest, reply: FastifyReply) => {
    const guard = options.overload;
    if (!guard || guard.admit()) return;
    metrics.overloadShed.inc();
    return reply.code(429).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ error: guard.reason() });
  };

  app.post('/predict', { onRequest: [watchAbandon, admit], onResponse: count }, async (request, reply) => {
    const parsed = parsePredictRequest(request.body, router.config.inputDim);
    const result = await routeOrExplain(parsed.data, parsed.rows, request);
    reply.header('x-cascade-variant', result.role);
    return {
      prediction: result.rows === 1 ? result.predictions[0] : result.predictions,
      probabilities: toRows(result.probabilities, result.rows),
      variant: result.role,
      cache_hit: result.cacheHit,
      in_router: result.inRouter,
      latency_ms: Math.round(result.latencyMs * 1000) / 1000,
    };
  });

  const infer = async (request: FastifyRequest<{ Params: { name: string } }>) => {
    const spec = endpointSpec();
    if (request.params.name !== spec.name) {
      throw new RequestError(404, `unknown model "${request.params.name}"; this router serves "${spec.name}"`);
    }
    const parsed = parseInferRequest(request.body, spec);
    const result = await routeOrExplain(parsed.data, parsed.rows, request);
    const response = formatInferResponse(spec, parsed, { probabilities: result.probabilities, logits: result.probabilities });
    return { ...response, parameters: { variant: result.role, cache_hit: result.cacheHit, in_router: result.inRouter, latency_ms: Math.round(result.latencyMs * 1000) / 1000 } };
  };
  app.post<{ Params: { name: string } }>('/v2/models/:name/infer', { onRequest: [watchAbandon, admit], onResponse: count }, infer);
  app.post<{ Params: { name: string } }>('/v2/models/:name/versions/1/infer', { onRequest: [watchAbandon, admit], onResponse: count }, infer);

  app.get('/v2/models/:name', async (request: FastifyRequest<{ Params: { name: string } }>) => {
    const spec = endpointSpec();
    if (request.params.name !== spec.name) throw new RequestError(404, `unknown model "${request.params.name}"; this router serves "${spec.name}"`);
    return {
      name: spec.name,
      versions: [spec.version],
      platform: 'inference-cascade-router',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, spec.input.width] }],
      outputs: spec.outputs,
    };
  });

  const live = async () => ({ live: true });
  const ready = async (_request: FastifyRequest, reply: { code(n: number): unknown }) => {
    if (!options.ready()) {
      reply.code(503);
      return { ready: false };
    }
    return { ready: true };
  };
  app.get('/healthz', live);
  app.get('/v2/health/live', live);
  app.get('/readyz', ready);
  app.get('/v2/health/ready', ready);

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/status', async (request: FastifyRequest<{ Querystring: { samples?: string } }>) => {
    const cascade = router.current;
    const samples = request.query.samples === '1' ? { divergence_samples: router.divergenceSamples() } : {};
    return {
      cascade: cascade.config.cascade,
      policy: cascade.policy.type,
      policy_model: cascade.config.policy.model?.uri ?? null,
      difficulty: cascade.difficulty.source,
      requests: router.requests(),
      cache: router.cache.stats(),
      agent: { state: router.agent.state(), actions: router.agentActions(), enforcing: router.agent.enforcing },
      cache_canary: router.canary() ?? null,
      breakers: Object.fromEntries(ROLES.map((role) => [role, cascade.breakers[role].state()])),
      retry_budget: cascade.retryBudget.stats(),
      load: options.load(),
      pod_cpu_signal: options.podCpuSignal?.() ?? 'off',
      overload_guard: options.overload ? { limit_ms: options.overload.maxDelayMs, shed_fraction: options.overload.shedFraction } : 'off',
      local_heads: Object.keys(cascade.heads),
      ...samples,
    };
  });

  return app;
}
