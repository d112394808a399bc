// Model files the router can read itself: each variant's head (to serve cache hits without a
// network hop) and the distilled variant (its confidence is the difficulty estimate).
import { existsSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelUriError, modelUriPath } from '../common/model-uri.js';
import type { RouterVariantEndpoint } from '../crds/router-config.js';
import { ROLES, type Role } from '../crds/types.js';
import { openCorrectnessEstimator } from './policy/estimator-model.js';
import { estimatorSignalWidth } from './policy/estimator-signals.js';
import { fuseProbeGraph, PROBE_CORRECTNESS, PROBE_EMBEDDING, PROBE_INPUT, PROBE_PROBABILITIES } from './policy/probe-graph.js';
import { ENCODER_FILE, HEAD_FILE, loadVariant, sessionOptions, type VariantRuntime } from '../variant-server/runtime.js';
import type { VariantAnswer } from './upstream.js';

/**
 * A variant's model folder on this machine, or undefined when the router cannot read it.
 * `modelsRoot` maps the images' /models/ prefix onto a local folder (the repo's models/ when
 * running standalone).
 */
export function localModelPath(uri: string | undefined, modelsRoot: string | undefined): string | undefined {
  if (!uri) return undefined;
  let path: string;
  if (/^file:\/\//i.test(uri)) {
    // The config parser refuses such URIs; this keeps any other caller from stepping out too.
    try {
      path = modelUriPath(uri);
    } catch (error) {
      if (error instanceof ModelUriError) return undefined;
      throw error;
    }
  } else if (uri.startsWith('/')) {
    if (normalize(uri) !== uri) return undefined;
    path = uri;
  } else return undefined;
  if (existsSync(path)) return path;
  if (modelsRoot && path.startsWith('/models/')) {
    const mapped = join(modelsRoot, path.slice('/models/'.length));
    if (existsSync(mapped)) return mapped;
  }
  return undefined;
}

export interface LocalHead {
  run(embedding: Float32Array, rows: number): Promise<Float32Array>;
  close(): Promise<void>;
}

async function openHead(directory: string): Promise<LocalHead | undefined> {
  const file = join(directory, HEAD_FILE);
  if (!existsSync(file)) return undefined;
  const session = await ort.InferenceSession.create(file, sessionOptions(['cpu']));
  const input = session.inputNames[0]!;
  const metadata = session.inputMetadata[0];
  const width = metadata && metadata.isTensor ? Number(metadata.shape[metadata.shape.length - 1]) : NaN;
  return {
    async run(embedding, rows) {
      const out = await session.run({ [input]: new ort.Tensor('float32', embedding, [rows, Number.isFinite(width) ? width : embedding.length / rows]) });
      return out.probabilities!.data as Float32Array;
    },
    close: () => session.release(),
  };
}

export async function openLocalHeads(variants: readonly RouterVariantEndpoint[], modelsRoot: string | undefined): Promise<Partial<Record<Role, LocalHead>>> {
  const heads: Partial<Record<Role, LocalHead>> = {};
  for (const variant of variants) {
    const path = localModelPath(variant.modelUri, modelsRoot);
    const head = path ? await openHead(path) : undefined;
    if (head) heads[variant.role] = head;
  }
  return heads;
}

export interface DifficultyEstimate {
  /** 0 easy .. 1 hard; for a batch, its hardest row. */
  difficulty: number;
  /** Each role's estimated probability of answering correctly (ROLES order; a batch's lowest), from a trained estimator. */
  correctness?: number[];
  /** The distilled model's answer the estimate was computed from (not from the constant estimator). */
  distilled?: VariantAnswer;
}

/**
 * Difficulty from the distilled model's answer: with a trained estimator (estimator.onnx beside a
 * learned policy) each role's probability of being right and difficulty = 1 - their mean;
 * otherwise one minus the distilled model's margin between its top two classes.
 */
export interface DifficultyEstimator {
  readonly source: 'trained-estimator' | 'distilled-margin' | 'constant';
  estimate(features: Float32Array, rows: number): Promise<DifficultyEstimate>;
  /** The distilled model's answer computed here; absent when its files are not readable (the constant estimator). */
  answerDistilled?(features: Float32Array, rows: number): Promise<VariantAnswer>;
  close(): Promise<void>;
}

export function marginDifficulty(probabilities: Float32Array, rows: number): number {
  const width = probabilities.length / rows;
  let hardest = 0;
  for (let r = 0; r < rows; r++) {
    let first = 0;
    let second = 0;
    for (let c = 0; c < width; c++) {
      const p = probabilities[r * width + c]!;
      if (p > first) {
        second = first;
        first = p;
      } else if (p > second) second = p;
    }
    hardest = Math.max(hardest, 1 - (first - second));
  }
  return hardest;
}

export async function openDifficultyEstimator(distilled: RouterVariantEndpoint | undefined, modelsRoot: string | undefined, estimatorFile?: string): Promise<DifficultyEstimator> {
  const path = localModelPath(distilled?.modelUri, modelsRoot);
  if (!path) {
    return { source: 'constant', estimate: async () => ({ difficulty: 0.5 }), close: async () => undefined };
  }
  // The variant's runtime checks the folder (files, shapes) exactly as the variant server does.
  const runtime: VariantRuntime = await loadVariant(path, { device: 'cpu' });
  const shape = { inputDim: runtime.inputDim, embeddingDim: runtime.embeddingDim, classes: runtime.classes };
  let probe: ort.InferenceSession;
  try {
    if (estimatorFile) await (await openCorrectnessEstimator(estimatorFile, estimatorSignalWidth(shape.classes, shape.embeddingDim))).close();
    const fused = fuseProbeGraph(readFileSync(join(runtime.directory, ENCODER_FILE)), readFileSync(join(runtime.directory, HEAD_FILE)), shape, estimatorFile ? readFileSync(estimatorFile) : undefined);
    probe = await ort.InferenceSession.create(fused, sessionOptions(['cpu']));
  } finally {
    await runtime.close();
  }
  // One run per request: the encoder, the head and the estimator are one graph (./policy/probe-graph.ts).
  const run = async (features: Float32Array, rows: number) => {
    const out = await probe.run({ [PROBE_INPUT]: new ort.Tensor('float32', features, [rows, shape.inputDim]) });
    const distilledAnswer: VariantAnswer = { rows, embedding: out[PROBE_EMBEDDING]!.data as Float32Array, probabilities: out[PROBE_PROBABILITIES]!.data as Float32Array };
    return { distilled: distilledAnswer, correctness: estimatorFile ? (out[PROBE_CORRECTNESS]!.data as Float32Array) : undefined };
  };
  const answerDistilled = async (features: Float32Array, rows: number) => (await run(features, rows)).distilled;
  const close = () => probe.release();
  if (!estimatorFile) {
    return {
      source: 'distilled-margin',
      async estimate(features, rows) {
        const { distilled: answer } = await run(features, rows);
        return { difficulty: marginDifficulty(answer.probabilities, rows), distilled: answer };
      },
      answerDistilled,
      close,
    };
  }
  return {
    source: 'trained-estimator',
    async estimate(features, rows) {
      const { distilled: answer, correctness: p } = await run(features, rows);
      const correctness = ROLES.map((_, k) => {
        let lowest = 1;
        for (let r = 0; r < rows; r++) lowest = Math.min(lowest, p![r * ROLES.length + k]!);
        return lowest;
      });
      return { difficulty: 1 - correctness.reduce((a, b) => a + b, 0) / ROLES.length, correctness, distilled: answer };
    },
    answerDistilled,
    close,
  };
}
