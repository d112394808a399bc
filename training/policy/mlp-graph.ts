// Encodes an Mlp as ONNX: `input` [batch, sizes[0]] -> (MatMul, Add, Tanh|Relu)* -> MatMul, Add
// -> optional Sigmoid/Softmax -> `output` [batch, sizes.at(-1)], float32 throughout.
import { encodeModel, FLOAT, node, tensor, valueInfo, type NodeProto, type TensorProto } from '../../common/onnx-model.js';
import type { Mlp } from './nn.js';

export type OutputActivation = 'none' | 'sigmoid' | 'softmax';

export interface MlpGraphOptions {
  input: string;
  output: string;
  /** Applied after the linear output layer (default 'none'); softmax runs over the last axis. */
  outputActivation?: OutputActivation;
  /** Graph name (default 'mlp'). */
  name?: string;
}

export function buildMlpGraph(mlp: Mlp, options: MlpGraphOptions): Uint8Array {
  const { input, output, outputActivation = 'none', name = 'mlp' } = options;
  if (input === output) throw new RangeError('input and output names must differ');
  const { sizes, hidden } = mlp.spec;
  const parameters = mlp.parameters();
  const layers = sizes.length - 1;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = input;
  for (let l = 0; l < layers; l++) {
    const last = l === layers - 1;
    const weight = `layer${l}.weight`;
    const bias = `layer${l}.bias`;
    initializers.push(
      tensor(weight, FLOAT, [sizes[l]!, sizes[l + 1]!], Float32Array.from(parameters[2 * l]!)),
      tensor(bias, FLOAT, [sizes[l + 1]!], Float32Array.from(parameters[2 * l + 1]!)),
    );
    const linear = last && outputActivation === 'none' ? output : `layer${l}.linear`;
    nodes.push(node('MatMul', [current, weight], [`layer${l}.matmul`]), node('Add', [`layer${l}.matmul`, bias], [linear]));
    current = linear;
    if (!last) {
      const activated = `layer${l}.${hidden}`;
      nodes.push(node(hidden === 'tanh' ? 'Tanh' : 'Relu', [current], [activated]));
      current = activated;
    }
  }
  if (outputActivation === 'sigmoid') nodes.push(node('Sigmoid', [current], [output]));
  else if (outputActivation === 'softmax') nodes.push(node('Softmax', [current], [output], { axis: -1 }));
  return encodeModel({
    name,
    nodes,
    initializers,
    inputs: [valueInfo(input, ['batch', sizes[0]!])],
    outputs: [valueInfo(output, ['batch', sizes[sizes.length - 1]!])],
  });
}
