// The router's difficulty probe as one ONNX graph: the distilled variant's encoder and head and,
// when a learned policy ships one, the correctness estimator on their signals (probabilities
// sorted descending, then the embedding: ./estimator-signals.ts). onnxruntime-node defers every
// session.run to its own event-loop turn, so one run instead of three keeps a request from
// queueing behind a burst three times over.
import type { onnx as onnxTypes } from 'onnx-proto';
import { onnx } from '../../common/onnx-model.js';

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
  return onnx.NodeProto.create({ opType: 'Identity', input: [from], output: [to], name: to });
}

function floatOutput(name: string, width: number): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } },
  });
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
  const outputs = [floatOutput(PROBE_EMBEDDING, shape.embeddingDim), floatOutput(PROBE_PROBABILITIES, shape.classes)];
  if (estimatorBytes) {
    const estimator = graphOf(decode(estimatorBytes, 'estimator'), 'estimator');
    const k = onnx.TensorProto.create({ name: 'signals/k', dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [shape.classes] });
    const topk = onnx.NodeProto.create({
      opType: 'TopK',
      name: 'signals/sorted',
      input: [PROBE_PROBABILITIES, 'signals/k'],
      output: ['signals/sorted', 'signals/indices'],
      attribute: [
        onnx.AttributeProto.create({ name: 'axis', i: -1, type: onnx.AttributeProto.AttributeType.INT }),
        onnx.AttributeProto.create({ name: 'largest', i: 1, type: onnx.AttributeProto.AttributeType.INT }),
        onnx.AttributeProto.create({ name: 'sorted', i: 1, type: onnx.AttributeProto.AttributeType.INT }),
      ],
    });
    const concat = onnx.NodeProto.create({
      opType: 'Concat',
      name: 'signals',
      input: ['signals/sorted', PROBE_EMBEDDING],
      output: ['signals'],
      attribute: [onnx.AttributeProto.create({ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT })],
    });
    const estimated = inline(estimator, 'estimator/', { [estimator.input]: 'signals' });
    const correctness = estimated.name(estimator.outputs[0]!);
    nodes.push(topk, concat, ...estimated.nodes, identity(correctness, PROBE_CORRECTNESS));
    initializers.push(k, ...estimated.initializers);
    outputs.push(floatOutput(PROBE_CORRECTNESS, 4));
  }
  const graph = onnx.GraphProto.create({
    name: 'difficulty-probe',
    node: nodes,
    initializer: initializers,
    input: [onnx.ValueInfoProto.create({
      name: PROBE_INPUT,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: shape.inputDim }] } } },
    })],
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
