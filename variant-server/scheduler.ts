// Puts every model run in one line and, when batching is on, merges concurrent requests for the
// same graph into one run.
//
// onnxruntime-node runs a session synchronously on the JS thread (after a setImmediate), so runs
// never overlap anyway; the explicit queue makes the wait visible (queue depth) and gives batching
// a place to collect requests: a batch that is still waiting for its turn keeps accepting rows
// until it holds maxBatch of them, so under load batches grow without a longer window. When the
// model is idle a new batch waits only the window (default 0: the rest of the current tick), so a
// lone client pays nothing for batching being on.
//
// Batching is exact for fp32 graphs up to float rounding in the GEMM kernels (rows do not interact).
// It is NOT exact for graphs with DynamicQuantizeLinear (the quantized variant): the activation
// scale and zero point are computed over the whole input tensor, so a row's outputs depend on the
// other rows in its batch. The server reports this in the model metadata parameters.

export type GraphOutputs = Record<string, Float32Array>;

export interface SchedulerGraph {
  /** Batches only ever hold requests for the same key. */
  key: string;
  inputWidth: number;
  run(data: Float32Array, rows: number): Promise<GraphOutputs>;
}

export interface SchedulerOptions {
  batching: boolean;
  batchWindowMs: number;
  maxBatch: number;
  /**
   * Requests accepted and not yet running beyond which new ones are refused at once
   * (SchedulerSaturatedError, a 429 with Retry-After) instead of queueing without bound.
   */
  maxQueued?: number;
  /** Called once per model run with its rows and the number of requests merged into it. */
  onRun?: (key: string, rows: number, requests: number) => void;
}

interface Item {
  data: Float32Array;
  rows: number;
  resolve(outputs: GraphOutputs): void;
  reject(error: unknown): void;
}

interface Batch {
  graph: SchedulerGraph;
  items: Item[];
  rows: number;
  queued: boolean;
  cancelTimer?: () => void;
}

export class SchedulerSaturatedError extends Error {
  override name = 'SchedulerSaturatedError';
}

export class Scheduler {
  private readonly open = new Map<string, Batch>();
  private readonly line: Batch[] = [];
  private running = false;
  private waiting = 0;

  constructor(private readonly options: SchedulerOptions) {}

  /** Requests accepted but whose model run has not started yet. */
  get queueDepth(): number {
    return this.waiting;
  }

  submit(graph: SchedulerGraph, data: Float32Array, rows: number): Promise<GraphOutputs> {
    const { maxQueued } = this.options;
    if (maxQueued !== undefined && this.waiting >= maxQueued) {
      return Promise.reject(new SchedulerSaturatedError(`${this.waiting} requests are already waiting for the model (max-queued ${maxQueued}); retry later`));
    }
    return new Promise<GraphOutputs>((resolve, reject) => {
      const item: Item = { data, rows, resolve, reject };
      this.waiting += 1;
      if (!this.options.batching) {
        this.enqueue({ graph, items: [item], rows, queued: false });
        return;
      }
      let batch = this.open.get(graph.key);
      if (batch && batch.rows + rows > this.options.maxBatch) {
        this.close(batch);
        batch = undefined;
      }
      if (!batch) {
        batch = { graph, items: [], rows: 0, queued: false };
        this.open.set(graph.key, batch);
        const opened = batch;
        if (this.running) {
          // The model is busy: queue the batch now; it keeps collecting rows until its turn comes,
          // so under load batches form without any added wait.
          this.enqueue(opened);
        } else if (this.options.batchWindowMs > 0) {
          const timer = setTimeout(() => this.enqueue(opened), this.options.batchWindowMs);
          batch.cancelTimer = () => clearTimeout(timer);
        } else {
          const immediate = setImmediate(() => this.enqueue(opened));
          batch.cancelTimer = () => clearImmediate(immediate);
        }
      }
      batch.items.push(item);
      batch.rows += rows;
      if (batch.rows >= this.options.maxBatch) this.close(batch);
    });
  }

  /** No more rows join this batch; it runs when its turn comes. */
  private close(batch: Batch): void {
    if (this.open.get(batch.graph.key) === batch) this.open.delete(batch.graph.key);
    this.enqueue(batch);
  }

  private enqueue(batch: Batch): void {
    batch.cancelTimer?.();
    delete batch.cancelTimer;
    if (batch.queued) return;
    batch.queued = true;
    this.line.push(batch);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (let batch = this.line.shift(); batch; batch = this.line.shift()) {
        if (this.open.get(batch.graph.key) === batch) this.open.delete(batch.graph.key);
        this.waiting -= batch.items.length;
        await this.execute(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async execute({ graph, items, rows }: Batch): Promise<void> {
    this.options.onRun?.(graph.key, rows, items.length);
    let outputs: GraphOutputs;
    try {
      outputs = await graph.run(items.length === 1 ? items[0]!.data : concat(items, rows, graph.inputWidth), rows);
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    if (items.length === 1) {
      items[0]!.resolve(outputs);
      return;
    }
    let offset = 0;
    for (const item of items) {
      item.resolve(sliceRows(outputs, rows, offset, item.rows));
      offset += item.rows;
    }
  }
}

function concat(items: readonly Item[], rows: number, width: number): Float32Array {
  const data = new Float32Array(rows * width);
  let offset = 0;
  for (const item of items) {
    data.set(item.data, offset);
    offset += item.data.length;
  }
  return data;
}

/** Rows [start, start + count) of every output; each output is [totalRows, width] row-major. */
export function sliceRows(outputs: GraphOutputs, totalRows: number, start: number, count: number): GraphOutputs {
  const sliced: GraphOutputs = {};
  for (const [name, values] of Object.entries(outputs)) {
    const width = values.length / totalRows;
    sliced[name] = values.subarray(start * width, (start + count) * width);
  }
  return sliced;
}
