/** Small helpers to encode ONNX graphs with onnx-proto (used by the model factory and the policy). */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type NodeProto = InstanceType<typeof onnx.NodeProto>;
export type TensorProto = InstanceType<typeof onnx.TensorProto>;
export type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>;

export const OPSET = 17;
export const IR_VERSION = 8;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT8 = onnx.TensorProto.DataType.INT8;

export function bytesOf(array: Float32Array | Int8Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

export function tensor(name: string, dataType: number, dims: number[], values: Float32Array | Int8Array): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: bytesOf(values) });
}

/** A tensor value; string dims are symbolic (e.g. "batch"). */
export function valueInfo(name: string, dims: (number | string)[], elemType: number = FLOAT): ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, number> = {}): NodeProto {
  return onnx.NodeProto.create({
    opType,
    input: inputs,
    output: outputs,
    name: outputs[0],
    attribute: Object.entries(attributes).map(([name, i]) => onnx.AttributeProto.create({ name, i, type: onnx.AttributeProto.AttributeType.INT })),
  });
}

export interface GraphParts {
  name: string;
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
}

export function encodeModel(parts: GraphParts): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: parts.name,
    node: parts.nodes,
    initializer: parts.initializers,
    input: parts.inputs,
    output: parts.outputs,
  });
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'inference-cascade',
    producerVersion: '1',
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
