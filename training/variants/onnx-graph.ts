/**
 * Builds a variant's two ONNX graphs from its layer weights:
 * - encoder: `features` [batch, in] -> `embedding` [batch, hidden] (every hidden layer, ReLU)
 * - head:    `embedding` -> `logits` [batch, classes] and `probabilities` (softmax)
 * fp32 layers are MatMul + Add. int8 layers are DynamicQuantizeLinear on the activation,
 * MatMulInteger against int8 weights, then the int32 sums rescaled by (activation scale x
 * per-column weight scale), so onnxruntime runs integer kernels.
 */
import {
  encodeModel,
  FLOAT,
  INT8,
  IR_VERSION,
  node,
  OPSET,
  tensor,
  valueInfo,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../../common/onnx-model.js';

export { IR_VERSION, OPSET };
export const INPUT_FEATURES = 'features';
export const OUTPUT_EMBEDDING = 'embedding';
export const OUTPUT_LOGITS = 'logits';
export const OUTPUT_PROBABILITIES = 'probabilities';

export interface Fp32Weights {
  kind: 'fp32';
  in: number;
  out: number;
  /** Row-major [in, out], applied as x @ weight. */
  weight: Float32Array;
  bias: Float32Array;
}

export interface Int8Weights {
  kind: 'int8';
  in: number;
  out: number;
  weight: Int8Array;
  /** One scale per output column. */
  scale: Float32Array;
  bias: Float32Array;
}

export type LayerWeights = Fp32Weights | Int8Weights;

interface LayerGraph {
  nodes: NodeProto[];
  initializers: TensorProto[];
}

function layerGraph(layer: LayerWeights, index: number, input: string, output: string, relu: boolean): LayerGraph {
  const p = `layer${index}`;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [tensor(`${p}.bias`, FLOAT, [layer.out], layer.bias)];
  const linear = relu ? `${p}.linear` : output;
  if (layer.kind === 'fp32') {
    initializers.push(tensor(`${p}.weight`, FLOAT, [layer.in, layer.out], layer.weight));
    nodes.push(node('MatMul', [input, `${p}.weight`], [`${p}.matmul`]));
  } else {
    initializers.push(tensor(`${p}.weight_q`, INT8, [layer.in, layer.out], layer.weight));
    initializers.push(tensor(`${p}.weight_scale`, FLOAT, [layer.out], layer.scale));
    nodes.push(
      node('DynamicQuantizeLinear', [input], [`${p}.x_q`, `${p}.x_scale`, `${p}.x_zero_point`]),
      node('MatMulInteger', [`${p}.x_q`, `${p}.weight_q`, `${p}.x_zero_point`], [`${p}.acc`]),
      node('Cast', [`${p}.acc`], [`${p}.acc_f`], { to: FLOAT }),
      node('Mul', [`${p}.x_scale`, `${p}.weight_scale`], [`${p}.scale`]),
      node('Mul', [`${p}.acc_f`, `${p}.scale`], [`${p}.matmul`]),
    );
  }
  nodes.push(node('Add', [`${p}.matmul`, `${p}.bias`], [linear]));
  if (relu) nodes.push(node('Relu', [linear], [output]));
  return { nodes, initializers };
}

function model(name: string, parts: LayerGraph[], inputs: ValueInfoProto[], outputs: ValueInfoProto[], extra: NodeProto[] = []): Uint8Array {
  return encodeModel({
    name,
    nodes: [...parts.flatMap((part) => part.nodes), ...extra],
    initializers: parts.flatMap((part) => part.initializers),
    inputs,
    outputs,
  });
}

function checkChain(layers: readonly LayerWeights[]): void {
  if (layers.length < 2) throw new Error('a variant needs at least one hidden layer and an output layer');
  layers.forEach((layer, i) => {
    const expected = layer.in * layer.out;
    if (layer.weight.length !== expected) throw new Error(`layer ${i}: weight has ${layer.weight.length} values, expected ${expected}`);
    if (layer.bias.length !== layer.out) throw new Error(`layer ${i}: bias has ${layer.bias.length} values, expected ${layer.out}`);
    if (layer.kind === 'int8' && layer.scale.length !== layer.out)
      throw new Error(`layer ${i}: scale has ${layer.scale.length} values, expected ${layer.out}`);
    const next = layers[i + 1];
    if (next && next.in !== layer.out) throw new Error(`layer ${i + 1} takes ${next.in} inputs but layer ${i} gives ${layer.out}`);
  });
}

export interface VariantGraphs {
  encoder: Uint8Array;
  head: Uint8Array;
  embeddingDim: number;
}

export function buildVariantGraphs(name: string, layers: readonly LayerWeights[]): VariantGraphs {
  checkChain(layers);
  const hidden = layers.slice(0, -1);
  const output = layers[layers.length - 1]!;
  const embeddingDim = hidden[hidden.length - 1]!.out;
  const encoderParts = hidden.map((layer, i) =>
    layerGraph(layer, i, i === 0 ? INPUT_FEATURES : `hidden${i}`, i === hidden.length - 1 ? OUTPUT_EMBEDDING : `hidden${i + 1}`, true),
  );
  const encoder = model(
    `${name}.encoder`,
    encoderParts,
    [valueInfo(INPUT_FEATURES, ['batch', layers[0]!.in])],
    [valueInfo(OUTPUT_EMBEDDING, ['batch', embeddingDim])],
  );
  const head = model(
    `${name}.head`,
    [layerGraph(output, hidden.length, OUTPUT_EMBEDDING, OUTPUT_LOGITS, false)],
    [valueInfo(OUTPUT_EMBEDDING, ['batch', embeddingDim])],
    [valueInfo(OUTPUT_LOGITS, ['batch', output.out]), valueInfo(OUTPUT_PROBABILITIES, ['batch', output.out])],
    [node('Softmax', [OUTPUT_LOGITS], [OUTPUT_PROBABILITIES], { axis: -1 })],
  );
  return { encoder, head, embeddingDim };
}
