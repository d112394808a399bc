// The router's difficulty probe as one ONNX graph: the distilled variant's encoder and head and,
// when a learned policy ships one, the correctness estimator on their signals (probabilities
// sorted descending, then the embedding: ./estimator-signals.ts). onnxruntime-node defers every
// session.run to its own event-loop turn, so one run instead of three keeps a request from
// queueing behind a burst three times over.
import type { onnx as onnxTypes } from 'onnx-proto';
import { node, onnx, valueInfo } from '../../common/onnx-model.js';
import { ROLES } from '../../crds/types.js';

export const PROBE_INPUT = 'features';
export const PROBE_EMBEDDING = 'embedding';
export const PROBE_PROBABILITIES = 'probabilities';
export const PROBE_CORRECTNESS = 'correctness';

type ModelProto = InstanceType<typeof onnx.ModelProto>;
type GraphProto = onnxTypes.IGraphProto;
type NodeProto = onnxTypes.INodeProto;
type TensorProto = onnxTypes.ITensorProto;

export class ProbeGraphError extends Error {
  override name = 'ProbeGraphError';
}

function decode(bytes: Uint8Array, what: string): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new ProbeGraphError(`${what}: not an ONNX model: ${(error as Error).message}`);
  }
}

interface Graph {
  graph: GraphProto;
  input: string;
  outputs: string[];
}

function graphOf(model: ModelProto, what: string): Graph {
  const graph = model.graph;
  const input = graph?.input?.[0]?.name;
  const outputs = (graph?.output ?? []).map((o) => o.name ?? '');
  if (!graph || !input || outputs.length === 0) throw new ProbeGraphError(`${what}: has no graph with an input and outputs`);
  return { graph, input, outputs };
}

/** A graph's nodes and initializers with every internal name prefixed; `rename` maps its input(s) onto names of the fused graph. */
function inline({ graph }: Graph, prefix: string, rename: Record<string, string>): { nodes: NodeProto[]; initializers: TensorProto[]; name: (n: string) => string } {
  const name = (n: string) => (n === '' ? n : rename[n] ?? `${prefix}${n}`);
  const nodes = (graph.node ?? []).map((n) => {
    const outputs = n.output ?? [];
    return onnx.NodeProto.create({ ...n, name: `${prefix}${n.name || outputs[0] || ''}`, input: (n.input ?? []).map(name), output: outputs.map(name) });
  });
  const initializers = (graph.initializer ?? []).map((t) => onnx.TensorProto.create({ ...t, name: name(t.name ?? '') }));
  return { nodes, initializers, name };
}

function identity(from: string, to: string): NodeProto {
  return node('Identity', [from], [to]);
}

export interface ProbeShape {
  inputDim: number;
  embeddingDim: number;
  classes: number;
}

/**
 * Fuses encoder -> head (-> TopK + Concat -> estimator) into one model with input `features` and
 * outputs `embedding`, `probabilities` (and `correctness`). The graphs are the files the variant
 * server serves, so the answers are the variant's own.
 */
export function fuseProbeGraph(encoderBytes: Uint8Array, headBytes: Uint8Array, shape: ProbeShape, estimatorBytes?: Uint8Array): Uint8Array {
  const encoderModel = decode(encoderBytes, 'encoder');
  const encoder = graphOf(encoderModel, 'encoder');
  const head = graphOf(decode(headBytes, 'head'), 'head');
  const encoded = inline(encoder, 'encoder/', { [encoder.input]: PROBE_INPUT });
  const embedding = encoded.name(encoder.outputs[0]!);
  const headed = inline(head, 'head/', { [head.input]: embedding });
  if (!head.outputs.includes(PROBE_PROBABILITIES)) throw new ProbeGraphError(`head: has no "${PROBE_PROBABILITIES}" output`);
  const nodes = [...encoded.nodes, ...headed.nodes, identity(embedding, PROBE_EMBEDDING), identity(headed.name(PROBE_PROBABILITIES), PROBE_PROBABILITIES)];
  const initializers = [...encoded.initializers, ...headed.initializers];
  const outputs = [valueInfo(PROBE_EMBEDDING, ['batch', shape.embeddingDim]), valueInfo(PROBE_PROBABILITIES, ['batch', shape.classes])];
  if (estimatorBytes) {
    const estimator = graphOf(decode(estimatorBytes, 'estimator'), 'estimator');
    const k = onnx.TensorProto.create({ name: 'signals/k', dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [shape.classes] });
    const topk = node('TopK', [PROBE_PROBABILITIES, 'signals/k'], ['signals/sorted', 'signals/indices'], { axis: -1, largest: 1, sorted: 1 });
    const concat = node('Concat', ['signals/sorted', PROBE_EMBEDDING], ['signals'], { axis: 1 });
    const estimated = inline(estimator, 'estimator/', { [estimator.input]: 'signals' });
    const correctness = estimated.name(estimator.outputs[0]!);
    nodes.push(topk, concat, ...estimated.nodes, identity(correctness, PROBE_CORRECTNESS));
    initializers.push(k, ...estimated.initializers);
    outputs.push(valueInfo(PROBE_CORRECTNESS, ['batch', ROLES.length]));
  }
  const graph = onnx.GraphProto.create({
    name: 'difficulty-probe',
    node: nodes,
    initializer: initializers,
    input: [valueInfo(PROBE_INPUT, ['batch', shape.inputDim])],
    output: outputs,
  });
  const model = onnx.ModelProto.create({
    irVersion: encoderModel.irVersion,
    opsetImport: encoderModel.opsetImport,
    producerName: 'inference-cascade router',
    producerVersion: '1',
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
