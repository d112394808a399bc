// The trained difficulty estimator (training/policy/estimator.ts), shipped as estimator.onnx beside
// policy.onnx: `signals` [batch, classes + embedding] (./estimator-signals.ts) -> `correctness`
// [batch, 4], each role's probability of answering correctly, in ROLES order.
import * as ort from 'onnxruntime-node';
import { ROLES } from '../../crds/types.js';
import { sessionOptions } from '../../variant-server/runtime.js';

export const ESTIMATOR_FILE = 'estimator.onnx';
export const ESTIMATOR_INPUT = 'signals';
export const ESTIMATOR_OUTPUT = 'correctness';

export class EstimatorLoadError extends Error {
  override name = 'EstimatorLoadError';
}

export interface CorrectnessEstimator {
  /** Per row, ROLES.length probabilities. */
  run(signals: Float32Array, rows: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export async function openCorrectnessEstimator(file: string, signalWidth: number): Promise<CorrectnessEstimator> {
  const session = await ort.InferenceSession.create(file, sessionOptions(['cpu']));
  const input = session.inputMetadata.find((m) => m.name === ESTIMATOR_INPUT);
  const output = session.outputMetadata.find((m) => m.name === ESTIMATOR_OUTPUT);
  const width = (meta: typeof input) => (meta && meta.isTensor ? meta.shape[1] : undefined);
  if (width(input) !== signalWidth || width(output) !== ROLES.length) {
    await session.release();
    throw new EstimatorLoadError(`${file}: must map ${ESTIMATOR_INPUT} [batch, ${signalWidth}] to ${ESTIMATOR_OUTPUT} [batch, ${ROLES.length}], got ${ESTIMATOR_INPUT} width ${String(width(input))} and ${ESTIMATOR_OUTPUT} width ${String(width(output))}`);
  }
  return {
    async run(signals, rows) {
      const out = await session.run({ [ESTIMATOR_INPUT]: new ort.Tensor('float32', signals, [rows, signalWidth]) });
      return out[ESTIMATOR_OUTPUT]!.data as Float32Array;
    },
    close: () => session.release(),
  };
}
