/** Files shared with the Python factory: the data split and the spec in, weights out. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Split } from '../data/dataset.js';
import type { FactorySpec } from './specs.js';

function bytesOf(array: Float32Array | Int32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

export function writeFactoryInput(work: string, split: Split, spec: FactorySpec): void {
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'train-x.f32'), bytesOf(split.train.features));
  writeFileSync(join(work, 'train-y.i32'), bytesOf(split.train.labels));
  writeFileSync(join(work, 'test-x.f32'), bytesOf(split.test.features));
  writeFileSync(join(work, 'test-y.i32'), bytesOf(split.test.labels));
  const meta = {
    name: split.train.name,
    dim: split.train.dim,
    classes: split.train.classes,
    train_rows: split.train.labels.length,
    test_rows: split.test.labels.length,
  };
  writeFileSync(join(work, 'data.json'), JSON.stringify(meta, null, 2));
  writeFileSync(join(work, 'spec.json'), JSON.stringify(spec, null, 2));
}

export interface Fp32Layer {
  kind: 'fp32';
  in: number;
  out: number;
  weight: string;
  bias: string;
}

export interface Int8Layer {
  kind: 'int8';
  in: number;
  out: number;
  levels: number;
  weight: string;
  scale: string;
  bias: string;
}

export type LayerFiles = Fp32Layer | Int8Layer;

export interface FactoryRole {
  dims: number[];
  layers: LayerFiles[];
  torch_accuracy: number;
  reference: { embedding: string; logits: string };
}

export interface FactoryOutput {
  workload: string;
  torch: string;
  threads: number;
  reference_rows: number;
  reference_input: string;
  roles: Record<'full' | 'distilled' | 'pruned' | 'quantized', FactoryRole>;
}

export function readFactoryOutput(work: string): FactoryOutput {
  return JSON.parse(readFileSync(join(work, 'factory.json'), 'utf8')) as FactoryOutput;
}

export function readWeights(work: string, file: string): Buffer {
  return readFileSync(join(work, 'weights', file));
}

export function float32FromBase64(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}
