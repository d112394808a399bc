// The router's client for one variant server: a keep-alive undici Pool per variant, speaking the
// Open Inference Protocol v2. One call returns both the embedding (for the prefix cache) and the
// probabilities, so a miss costs one round trip.
import { Pool } from 'undici';
import type { RouterVariantEndpoint } from '../crds/router-config.js';

export interface VariantAnswer {
  embedding: Float32Array;
  probabilities: Float32Array;
  rows: number;
}

/** Why an attempt at a variant failed; the router counts and reports these. */
export type UpstreamFailure = 'timeout' | 'connect' | 'status' | 'protocol';

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    readonly kind: UpstreamFailure,
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

export interface UpstreamOptions {
  connections?: number;
  /** Largest response accepted, so a broken variant cannot exhaust the router's memory. */
  maxResponseBytes?: number;
}

interface OipOutput {
  name?: unknown;
  shape?: unknown;
  data?: unknown;
}

function tensorData(outputs: OipOutput[], name: string, variant: string, rows: number): Float32Array {
  const output = outputs.find((o) => o.name === name);
  if (!output || !Array.isArray(output.data)) throw new UpstreamError('protocol', `variant ${variant} answered without output "${name}"`);
  if (output.data.length === 0 || output.data.length % rows !== 0) {
    throw new UpstreamError('protocol', `variant ${variant} answered ${output.data.length} values in "${name}" for ${rows} rows`);
  }
  return Float32Array.from(output.data as number[]);
}

export class VariantClient {
  private readonly pool: Pool;
  private readonly inferPath: string;
  private readonly headPath: string;
  private readonly maxResponseBytes: number;

  constructor(
    readonly variant: RouterVariantEndpoint,
    options: UpstreamOptions = {},
  ) {
    const url = new URL(variant.endpoint);
    this.pool = new Pool(url.origin, { connections: options.connections ?? 64, pipelining: 1, keepAliveTimeout: 30_000 });
    const base = url.pathname.replace(/\/$/, '');
    this.inferPath = `${base}/v2/models/${encodeURIComponent(variant.name)}/infer`;
    this.headPath = `${base}/v2/models/${encodeURIComponent(`${variant.name}.head`)}/infer`;
    this.maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
  }

  /** Features [rows, width] through the variant's encoder and head; the embedding only when the cache wants it (for the full model it is most of the answer). */
  infer(features: Float32Array, rows: number, timeoutMs: number, withEmbedding = true): Promise<VariantAnswer> {
    const width = features.length / rows;
    return this.post(this.inferPath, 'features', features, rows, width, timeoutMs, withEmbedding);
  }

  /** A cached embedding through the variant's head only. */
  head(embedding: Float32Array, rows: number, timeoutMs: number): Promise<VariantAnswer> {
    return this.post(this.headPath, 'embedding', embedding, rows, embedding.length / rows, timeoutMs, false);
  }

  private async post(path: string, input: string, data: Float32Array, rows: number, width: number, timeoutMs: number, withEmbedding: boolean): Promise<VariantAnswer> {
    const body = JSON.stringify({
      inputs: [{ name: input, shape: [rows, width], datatype: 'FP32', data: Array.from(data) }],
      outputs: withEmbedding ? [{ name: 'embedding' }, { name: 'probabilities' }] : [{ name: 'probabilities' }],
    });
    const controller = new AbortController();
    const timer = abortAfter(controller, timeoutMs);
    let text: string;
    let statusCode: number;
    try {
      const response = await this.pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body, signal: controller.signal });
      statusCode = response.statusCode;
      text = await readLimited(response.body, this.maxResponseBytes, this.variant.name);
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      if (controller.signal.aborted) throw new UpstreamError('timeout', `variant ${this.variant.name} did not answer within ${timeoutMs} ms`);
      throw new UpstreamError('connect', `variant ${this.variant.name} at ${this.variant.endpoint}: ${(error as Error).message}`);
    } finally {
      timer.clear();
    }
    if (statusCode !== 200) {
      let detail = text.slice(0, 200);
      try {
        detail = (JSON.parse(text) as { error?: string }).error ?? detail;
      } catch {
        // not JSON: keep the raw text
      }
      throw new UpstreamError('status', `variant ${this.variant.name} answered ${statusCode}: ${detail}`, statusCode);
    }
    let outputs: OipOutput[];
    try {
      outputs = (JSON.parse(text) as { outputs: OipOutput[] }).outputs;
      if (!Array.isArray(outputs)) throw new Error('no outputs array');
    } catch (error) {
      throw new UpstreamError('protocol', `variant ${this.variant.name} sent an unreadable answer: ${(error as Error).message}`);
    }
    return {
      rows,
      probabilities: tensorData(outputs, 'probabilities', this.variant.name, rows),
      embedding: withEmbedding ? tensorData(outputs, 'embedding', this.variant.name, rows) : new Float32Array(0),
    };
  }

  /** The variant's Prometheus exposition (for its queue depth). */
  async metricsText(timeoutMs: number): Promise<string> {
    const controller = new AbortController();
    const timer = abortAfter(controller, timeoutMs);
    try {
      const base = new URL(this.variant.endpoint).pathname.replace(/\/$/, '');
      const response = await this.pool.request({ method: 'GET', path: `${base}/metrics`, signal: controller.signal });
      const text = await readLimited(response.body, this.maxResponseBytes, this.variant.name);
      if (response.statusCode !== 200) throw new UpstreamError('status', `variant ${this.variant.name} /metrics answered ${response.statusCode}`, response.statusCode);
      return text;
    } finally {
      timer.clear();
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * Aborts `controller` once `timeoutMs` has passed, but only after the event loop has read the
 * sockets. Node runs due timers before it polls for I/O, so after a stall (a GC pause, a burst of
 * work) a plain timer would abort requests whose answers already sit in the socket buffer: the
 * variant did its work, the router throws it away, closes the keep-alive connection and tries
 * another variant, adding load exactly when it is overloaded. setImmediate runs after the poll
 * phase, so an answer that has arrived is read first.
 * (A plain controller and a cleared timer: AbortSignal.timeout costs ~30 us per request here and
 * its timer always fires, building an exception each time.)
 */
export function abortAfter(controller: AbortController, timeoutMs: number): { clear(): void } {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(() => controller.abort());
  }, Math.max(1, Math.ceil(timeoutMs)));
  return {
    clear() {
      clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
    },
  };
}

async function readLimited(body: AsyncIterable<Buffer>, limit: number, variant: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new UpstreamError('protocol', `variant ${variant} sent more than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
