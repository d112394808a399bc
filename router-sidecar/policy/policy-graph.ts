// Encodes a linear scoring policy as ONNX: `features` [batch, F] -> MatMul -> Add -> `scores`
// [batch, 4], one score per role in ROLES order. Small enough to write by hand, so tests and a
// first trained policy can produce a valid policy.onnx without Python.
import { encodeModel, FLOAT, node, tensor, valueInfo } from '../../common/onnx-model.js';
import { ROLES } from '../../crds/types.js';
import { FEATURE_COUNT } from './features.js';

export const POLICY_INPUT = 'features';
export const POLICY_OUTPUT = 'scores';

export interface LinearPolicyWeights {
  /** Row-major [inputWidth, 4]: scores = features @ weight + bias. */
  weight: Float32Array;
  bias: Float32Array;
  /** Defaults to FEATURE_COUNT; other widths exist to test shape checks. */
  inputWidth?: number;
}

export function buildLinearPolicyGraph({ weight, bias, inputWidth = FEATURE_COUNT }: LinearPolicyWeights): Uint8Array {
  const roles = ROLES.length;
  if (weight.length !== inputWidth * roles) throw new RangeError(`weight must hold ${inputWidth} x ${roles} values, got ${weight.length}`);
  if (bias.length !== roles) throw new RangeError(`bias must hold ${roles} values, got ${bias.length}`);
  return encodeModel({
    name: 'routing-policy',
    nodes: [node('MatMul', [POLICY_INPUT, 'weight'], ['linear']), node('Add', ['linear', 'bias'], [POLICY_OUTPUT])],
    initializers: [tensor('weight', FLOAT, [inputWidth, roles], weight), tensor('bias', FLOAT, [roles], bias)],
    inputs: [valueInfo(POLICY_INPUT, ['batch', inputWidth])],
    outputs: [valueInfo(POLICY_OUTPUT, ['batch', roles])],
  });
}
