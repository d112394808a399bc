// The variant server: OIP v2 REST, the prototype's /predict, /metrics and a graceful drain, on
// fastify. startVariantServer is the programmatic entry point; main.ts is the CLI around it.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { installJsonHandling, JSON_SERVER_OPTIONS, RETRY_AFTER_SECONDS } from '../common/http-json.js';
import { createLogger, type Logger } from '../common/logger.js';
import { readModelInfo } from './card.js';
import { DEFAULTS, validateModelName } from './config.js';
import type { DeviceRequest } from './execution-provider.js';
import { createVariantMetrics, type VariantMetrics } from './metrics.js';
import { createServedModel, modelMetadata, type ServedGraph, type ServedModel } from './model.js';
import { formatInferResponse, parseInferRequest } from './oip.js';
import { formatPredictResponse, parseEmbeddingFlag, parsePredictRequest } from './predict.js';
import { loadVariant, modelDirectory, type VariantRuntime } from './runtime.js';
import { Scheduler, SchedulerSaturatedError } from './scheduler.js';
import { RequestError } from './tensors.js';

export const SERVER_NAME = 'inference-cascade-variant-server';
export const SERVER_VERSION = '0.1.0';

export interface VariantServerOptions {
  /** Model directory or file:// URI. */
  model: string;
  /** Defaults to <workload>-<role> from card.json. */
  name?: string;
  /** 0 (the default here) picks a free port. */
  port?: number;
  host?: string;
  batching?: boolean;
  batchWindowMs?: number;
  maxBatch?: number;
  /** Requests waiting for the model beyond which new ones get 429 with Retry-After. */
  maxQueued?: number;
  bodyLimitBytes?: number;
  device?: DeviceRequest;
  drainTimeoutMs?: number;
  /**
   * On close, how long readiness fails while requests are still served, so that endpoints stop
   * sending traffic before new requests are refused.
   */
  shutdownDelayMs?: number;
  logger?: Logger;
}

/** 'unready': closing, readiness fails, requests are still served; 'draining': new requests get 503. */
export type ServerState = 'loading' | 'ready' | 'unready' | 'draining' | 'stopped';

export interface VariantServer {
  url: string;
  port: number;
  name: string;
  version: string;
  executionProviders: string[];
  runtime: VariantRuntime;
  metrics: VariantMetrics;
  app: FastifyInstance;
  state(): ServerState;
  /** Stop accepting, wait for in-flight requests, release the sessions. Resolves false if the drain timed out. */
  close(): Promise<boolean>;
}

type Endpoint = 'health_live' | 'health_ready' | 'server_metadata' | 'model_metadata' | 'model_ready' | 'infer' | 'predict' | 'metrics';

// Health and metrics keep answering while draining: probes and scrapes must see the drain.
const ALWAYS_ANSWERED = new Set<string>(['health_live', 'health_ready', 'metrics']);
const INFERENCE = new Set<string>(['infer', 'predict']);

interface ModelParams {
  name: string;
  version?: string;
}

function endpointOf(request: FastifyRequest): string {
  return (request.routeOptions.config as { endpoint?: string } | undefined)?.endpoint ?? 'not_found';
}

export async function startVariantServer(options: VariantServerOptions): Promise<VariantServer> {
  const logger = options.logger ?? createLogger('info', { component: 'variant-server' });
  const directory = modelDirectory(options.model);
  const info = readModelInfo(directory);
  const name = validateModelName(options.name ?? info.defaultName, options.name ? 'model name' : `model name from ${directory}/card.json`);
  if (info.cardMismatches.length > 0) {
    logger.warn('model files differ from the hashes in card.json', { directory, files: info.cardMismatches });
  }
  const batching = {
    batching: options.batching ?? false,
    batchWindowMs: options.batchWindowMs ?? DEFAULTS.batchWindowMs,
    maxBatch: options.maxBatch ?? DEFAULTS.maxBatch,
  };
  const maxQueued = options.maxQueued ?? DEFAULTS.maxQueued;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULTS.bodyLimitBytes;
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs;
  const shutdownDelayMs = options.shutdownDelayMs ?? DEFAULTS.shutdownDelayMs;

  const metrics = createVariantMetrics();
  const scheduler = new Scheduler({
    ...batching,
    maxQueued,
    onRun(graph, rows, requests) {
      metrics.batchSize.observe({ graph }, rows);
      metrics.batchRequests.observe({ graph }, requests);
    },
  });
  metrics.setQueueDepthSource(() => scheduler.queueDepth);

  let state: ServerState = 'loading';
  let served: ServedModel | undefined;
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const app = Fastify({ bodyLimit, logger: false, forceCloseConnections: 'idle', ...JSON_SERVER_OPTIONS });
  installJsonHandling(app, { bodyLimit, logger });

  app.addHook('onRequest', async (request, reply) => {
    const endpoint = endpointOf(request);
    if ((state === 'draining' || state === 'stopped') && !ALWAYS_ANSWERED.has(endpoint)) {
      reply.header('connection', 'close');
      return reply.code(503).send({ error: 'server is shutting down; send the request to another replica' });
    }
    if (INFERENCE.has(endpoint)) {
      // 'close' fires once the response is written or the client went away, so the drain cannot miss it.
      inFlight += 1;
      metrics.inFlight.inc();
      reply.raw.once('close', () => {
        inFlight -= 1;
        metrics.inFlight.dec();
        if (inFlight === 0) idle?.();
      });
    }
    return undefined;
  });

  app.addHook('onResponse', async (request, reply) => {
    const endpoint = endpointOf(request);
    const requested = (request.params as Partial<ModelParams> | undefined)?.name;
    const model =
      endpoint === 'predict'
        ? name
        : requested === undefined
          ? ''
          : served?.graphs.has(requested) || requested === name
            ? requested
            : 'unknown';
    metrics.requests.inc({ endpoint, model });
    metrics.requestDuration.observe({ endpoint }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 400) metrics.errors.inc({ code: String(reply.statusCode), endpoint });
  });

  const graphFor = (params: ModelParams): ServedGraph => {
    if (state === 'loading' || !served) throw new RequestError(503, `model "${name}" is still loading`, { 'retry-after': String(RETRY_AFTER_SECONDS) });
    const graph = served.graphs.get(params.name);
    if (!graph)
      throw new RequestError(
        404,
        `unknown model "${params.name}"; this server serves ${[...served.graphs.keys()].map((n) => `"${n}"`).join(', ')}`,
      );
    if (params.version !== undefined && params.version !== graph.spec.version) {
      throw new RequestError(404, `model "${params.name}" has no version "${params.version}"; its version is "${graph.spec.version}"`);
    }
    return graph;
  };

  const runOrRefuse = async (graph: ServedGraph, data: Float32Array, rows: number) => {
    try {
      return await graph.run(data, rows);
    } catch (error) {
      if (error instanceof SchedulerSaturatedError) throw new RequestError(429, error.message, { 'retry-after': String(RETRY_AFTER_SECONDS) });
      throw error;
    }
  };

  const route = (
    method: 'GET' | 'POST',
    urls: string[],
    endpoint: Endpoint,
    handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  ): void => {
    for (const url of urls) app.route({ method, url, config: { endpoint }, handler });
  };
  const modelUrls = (suffix: string) => [`/v2/models/:name${suffix}`, `/v2/models/:name/versions/:version${suffix}`];

  route('GET', ['/v2/health/live'], 'health_live', async () => ({ live: true }));
  route('GET', ['/v2/health/ready'], 'health_ready', async (_request, reply) => {
    if (state === 'ready') return { ready: true };
    return reply
      .code(503)
      .send({ ready: false, error: state === 'loading' ? `model "${name}" is still loading` : 'server is shutting down' });
  });
  route('GET', ['/v2'], 'server_metadata', async () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: [] }));
  route('GET', modelUrls(''), 'model_metadata', async (request) => modelMetadata(graphFor(request.params as ModelParams)));
  route('GET', modelUrls('/ready'), 'model_ready', async (request) => {
    const graph = graphFor(request.params as ModelParams);
    return { name: graph.spec.name, ready: true };
  });
  route('POST', modelUrls('/infer'), 'infer', async (request) => {
    const graph = graphFor(request.params as ModelParams);
    const parsed = parseInferRequest(request.body, graph.spec);
    const raw = await runOrRefuse(graph, parsed.data, parsed.rows);
    return formatInferResponse(graph.spec, parsed, raw);
  });
  route('POST', ['/predict'], 'predict', async (request, reply) => {
    const graph = graphFor({ name });
    const withEmbedding = parseEmbeddingFlag(request.query);
    const parsed = parsePredictRequest(request.body, graph.spec.input.width);
    const raw = await runOrRefuse(graph, parsed.data, parsed.rows);
    return formatPredictResponse(name, parsed.rows, raw, withEmbedding, reply.elapsedTime);
  });
  route('GET', ['/metrics'], 'metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;

  let runtime: VariantRuntime;
  try {
    runtime = await loadVariant(directory, { device: options.device ?? 'auto' });
  } catch (error) {
    await app.close();
    throw error;
  }
  served = createServedModel(name, info, runtime, scheduler, batching);
  state = 'ready';
  logger.info('variant server started', {
    url,
    port,
    host,
    model: name,
    version: info.version,
    directory,
    executionProviders: runtime.executionProviders,
    inputDim: runtime.inputDim,
    embeddingDim: runtime.embeddingDim,
    classes: runtime.classes,
    batching: batching.batching,
    ...(batching.batching ? { batchWindowMs: batching.batchWindowMs, maxBatch: batching.maxBatch } : {}),
    dynamicQuantization: info.encoder.dynamicQuantization || info.head.dynamicQuantization,
    bodyLimitBytes: bodyLimit,
  });

  let closing: Promise<boolean> | undefined;
  const close = (): Promise<boolean> => {
    closing ??= (async () => {
      if (shutdownDelayMs > 0) {
        state = 'unready';
        logger.info('readiness fails; still serving until endpoints drop this replica', { model: name, shutdownDelayMs });
        await new Promise((resolve) => setTimeout(resolve, shutdownDelayMs));
      }
      state = 'draining';
      logger.info('draining', { model: name, inFlight });
      const drained =
        inFlight === 0 ||
        (await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), drainTimeoutMs);
          idle = () => {
            clearTimeout(timer);
            resolve(true);
          };
        }));
      if (!drained) {
        logger.warn('drain timed out; closing with requests still in flight', { model: name, inFlight, drainTimeoutMs });
        // app.close() would otherwise wait for those requests after all.
        app.server.closeAllConnections();
      }
      await app.close();
      await runtime.close();
      state = 'stopped';
      logger.info('variant server stopped', { model: name, drained });
      return drained;
    })();
    return closing;
  };

  return {
    url,
    port,
    name,
    version: info.version,
    executionProviders: runtime.executionProviders,
    runtime,
    metrics,
    app,
    state: () => state,
    close,
  };
}
