// The three addressable models of one variant ({name}, {name}.encoder, {name}.head) on top of the
// runtime and the scheduler, plus their OIP metadata.
import type { ModelInfo } from './card.js';
import type { EndpointSpec, TensorMetadata } from './oip.js';
import type { VariantRuntime } from './runtime.js';
import type { GraphOutputs, Scheduler, SchedulerGraph } from './scheduler.js';

export type GraphKind = 'model' | 'encoder' | 'head';

export type Parameters = Record<string, string | number | boolean>;

export interface ServedGraph {
  kind: GraphKind;
  spec: EndpointSpec;
  parameters: Parameters;
  run(data: Float32Array, rows: number): Promise<GraphOutputs>;
}

export interface ServedModel {
  name: string;
  version: string;
  /** {name}, {name}.encoder and {name}.head. */
  graphs: Map<string, ServedGraph>;
  model: ServedGraph;
}

export interface BatchingSettings {
  batching: boolean;
  batchWindowMs: number;
  maxBatch: number;
}

const fp32 = (name: string, width: number): TensorMetadata => ({ name, datatype: 'FP32', shape: [-1, width] });
const PREDICTION: TensorMetadata = { name: 'prediction', datatype: 'INT64', shape: [-1] };

function parameters(info: ModelInfo, runtime: VariantRuntime, batching: BatchingSettings, dynamicQuantization: boolean): Parameters {
  const p: Parameters = {
    execution_providers: runtime.executionProviders.join(','),
    dynamic_batching: batching.batching,
    dynamic_quantization: dynamicQuantization,
    // False when a row's outputs can depend on the other requests batched with it.
    batching_exact: !batching.batching || !dynamicQuantization,
  };
  if (info.card?.workload) p.workload = info.card.workload;
  if (info.card?.role) p.role = info.card.role;
  if (info.card?.sha256) p.sha256 = info.card.sha256;
  if (batching.batching) {
    p.batch_window_ms = batching.batchWindowMs;
    p.max_batch = batching.maxBatch;
  }
  if (batching.batching && dynamicQuantization) {
    p.batching_note =
      "DynamicQuantizeLinear computes the activation scale over the whole batch, so with dynamic batching a row's outputs can differ slightly from running it alone.";
  }
  return p;
}

export function createServedModel(
  name: string,
  info: ModelInfo,
  runtime: VariantRuntime,
  scheduler: Scheduler,
  batching: BatchingSettings,
): ServedModel {
  const { inputDim, embeddingDim, classes } = runtime;
  const graph = (kind: GraphKind, inputWidth: number, run: SchedulerGraph['run']): SchedulerGraph => ({ key: kind, inputWidth, run });
  const encoderGraph = graph('encoder', inputDim, async (data, rows) => ({ embedding: await runtime.encode(data, rows) }));
  const headGraph = graph('head', embeddingDim, async (data, rows) => runtime.classify(data, rows));
  const modelGraph = graph('model', inputDim, async (data, rows) => {
    const embedding = await runtime.encode(data, rows);
    return { embedding, ...(await runtime.classify(embedding, rows)) };
  });
  const served = (
    kind: GraphKind,
    endpointName: string,
    g: SchedulerGraph,
    inputName: string,
    outputs: TensorMetadata[],
    quantized: boolean,
  ): ServedGraph => ({
    kind,
    spec: { name: endpointName, version: info.version, input: { name: inputName, width: g.inputWidth }, outputs },
    parameters: { ...parameters(info, runtime, batching, quantized), graph: kind },
    run: (data, rows) => scheduler.submit(g, data, rows),
  });
  const headOutputs = [fp32('logits', classes), fp32('probabilities', classes), PREDICTION];
  const model = served(
    'model',
    name,
    modelGraph,
    runtime.encoder.inputName,
    [fp32('embedding', embeddingDim), ...headOutputs],
    info.encoder.dynamicQuantization || info.head.dynamicQuantization,
  );
  const encoder = served(
    'encoder',
    `${name}.encoder`,
    encoderGraph,
    runtime.encoder.inputName,
    [fp32('embedding', embeddingDim)],
    info.encoder.dynamicQuantization,
  );
  const head = served('head', `${name}.head`, headGraph, runtime.head.inputName, headOutputs, info.head.dynamicQuantization);
  return { name, version: info.version, model, graphs: new Map([model, encoder, head].map((g) => [g.spec.name, g])) };
}

/** OIP model metadata response. */
export function modelMetadata(graph: ServedGraph): Record<string, unknown> {
  return {
    name: graph.spec.name,
    versions: [graph.spec.version],
    platform: 'onnxruntime',
    inputs: [fp32(graph.spec.input.name, graph.spec.input.width)],
    outputs: graph.spec.outputs,
    parameters: graph.parameters,
  };
}
