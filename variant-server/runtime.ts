/**
 * A variant model on onnxruntime-node: its encoder graph (features -> embedding) and head graph
 * (embedding -> logits, probabilities), loaded from a directory or file:// URI.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelUriError, modelUriPath } from '../common/model-uri.js';
// Namespace import: under mocha the default import of this CommonJS package comes out undefined.
import * as ort from 'onnxruntime-node';
import { chooseExecutionProviders, type DeviceRequest } from './execution-provider.js';

export const ENCODER_FILE = 'encoder.onnx';
export const HEAD_FILE = 'head.onnx';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

export interface GraphInfo {
  session: ort.InferenceSession;
  inputName: string;
  inputWidth: number;
  outputNames: readonly string[];
  outputWidths: Record<string, number>;
}

export interface VariantRuntime {
  directory: string;
  inputDim: number;
  embeddingDim: number;
  classes: number;
  executionProviders: string[];
  encoder: GraphInfo;
  head: GraphInfo;
  encode(features: Float32Array, rows: number): Promise<Float32Array>;
  classify(embedding: Float32Array, rows: number): Promise<{ logits: Float32Array; probabilities: Float32Array }>;
  close(): Promise<void>;
}

/** Accepts a directory path or a file:// URI naming one. */
export function modelDirectory(location: string): string {
  if (/^file:\/\//i.test(location)) {
    try {
      return modelUriPath(location, 'model location');
    } catch (error) {
      if (error instanceof ModelUriError) throw new ModelLoadError(error.message);
      throw error;
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new ModelLoadError(`model location "${location}": only local paths and file:// URIs are supported`);
  }
  return location;
}

function gpuPresent(): boolean {
  return existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version');
}

export function sessionOptions(executionProviders: string[]): ort.InferenceSession.SessionOptions {
  // One intra-op thread: on small machines idle worker threads spin and steal the server's CPU.
  return {
    executionProviders,
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

function width(metadata: ort.InferenceSession.ValueMetadata | undefined, what: string): number {
  if (!metadata || !metadata.isTensor) throw new ModelLoadError(`${what} is not a tensor`);
  const last = metadata.shape[metadata.shape.length - 1];
  if (typeof last !== 'number') throw new ModelLoadError(`${what} has no fixed last dimension`);
  return last;
}

async function openGraph(file: string, providers: string[]): Promise<GraphInfo> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new ModelLoadError(`model file ${file} does not exist`);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(readFileSync(file), sessionOptions(providers));
  } catch (error) {
    throw new ModelLoadError(`model file ${file} could not be loaded: ${(error as Error).message}`);
  }
  const inputName = session.inputNames[0];
  if (session.inputNames.length !== 1 || !inputName) throw new ModelLoadError(`${file}: expected exactly one input`);
  const outputWidths: Record<string, number> = {};
  session.outputNames.forEach((name, i) => {
    outputWidths[name] = width(session.outputMetadata[i], `${file} output "${name}"`);
  });
  return {
    session,
    inputName,
    inputWidth: width(session.inputMetadata[0], `${file} input "${inputName}"`),
    outputNames: session.outputNames,
    outputWidths,
  };
}

export interface LoadOptions {
  device?: DeviceRequest;
}

export async function loadVariant(location: string, options: LoadOptions = {}): Promise<VariantRuntime> {
  const directory = modelDirectory(location);
  const providers = chooseExecutionProviders(options.device ?? 'auto', {
    gpuPresent: gpuPresent(),
    cudaBackendListed: ort.listSupportedBackends().some((backend) => backend.name === 'cuda'),
  });
  const encoder = await openGraph(join(directory, ENCODER_FILE), providers);
  let head: GraphInfo | undefined;
  try {
    head = await openGraph(join(directory, HEAD_FILE), providers);
    checkPair(directory, encoder, head);
  } catch (error) {
    // A router retrying a bad folder on every config reload must not keep a session per attempt.
    await encoder.session.release();
    if (head) await head.session.release();
    throw error;
  }
  return variantRuntime(directory, providers, encoder, head);
}

function checkPair(directory: string, encoder: GraphInfo, head: GraphInfo): void {
  const embeddingDim = encoder.outputWidths[encoder.outputNames[0]!]!;
  if (head.inputWidth !== embeddingDim) {
    throw new ModelLoadError(`${directory}: head takes ${head.inputWidth} inputs but the encoder gives ${embeddingDim}`);
  }
  for (const name of ['logits', 'probabilities']) {
    if (!(name in head.outputWidths)) throw new ModelLoadError(`${directory}: head has no "${name}" output`);
  }
}

function variantRuntime(directory: string, providers: string[], encoder: GraphInfo, head: GraphInfo): VariantRuntime {
  const embedding = encoder.outputNames[0]!;
  const embeddingDim = encoder.outputWidths[embedding]!;
  const run = async (graph: GraphInfo, data: Float32Array, rows: number) =>
    graph.session.run({ [graph.inputName]: new ort.Tensor('float32', data, [rows, graph.inputWidth]) });
  return {
    directory,
    inputDim: encoder.inputWidth,
    embeddingDim,
    classes: head.outputWidths.logits!,
    executionProviders: providers,
    encoder,
    head,
    async encode(features, rows) {
      const out = await run(encoder, features, rows);
      return out[embedding]!.data as Float32Array;
    },
    async classify(embeddingData, rows) {
      const out = await run(head, embeddingData, rows);
      return { logits: out.logits!.data as Float32Array, probabilities: out.probabilities!.data as Float32Array };
    },
    async close() {
      await encoder.session.release();
      await head.session.release();
    },
  };
}
