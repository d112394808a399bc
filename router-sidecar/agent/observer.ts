// Which cache hits the agent checks against a fresh computation, and the recent results.
import type { Observation } from './decide.js';

export interface DriftObserverOptions {
  /** Fraction of would-be hits to recompute, in [0, 1]. */
  sampleRate: number;
  /** How many recent samples to keep. */
  windowSize: number;
}

export class DriftObserver {
  private readonly samples: Observation[] = [];

  constructor(private readonly options: DriftObserverOptions) {
    if (!(options.sampleRate >= 0 && options.sampleRate <= 1)) throw new RangeError(`sampleRate must be in [0, 1], got ${options.sampleRate}`);
    if (!Number.isInteger(options.windowSize) || options.windowSize < 1) throw new RangeError(`windowSize must be a positive integer, got ${options.windowSize}`);
  }

  /** `rng` returns values in [0, 1), like Math.random. */
  shouldSample(rng: () => number = Math.random): boolean {
    return this.options.sampleRate > 0 && rng() < this.options.sampleRate;
  }

  /** Adds a sample, dropping the oldest beyond the window; returns the window, oldest first. */
  record(observation: Observation): readonly Observation[] {
    this.samples.push(observation);
    if (this.samples.length > this.options.windowSize) this.samples.shift();
    return this.samples;
  }

  window(): readonly Observation[] {
    return this.samples;
  }

  clear(): void {
    this.samples.length = 0;
  }
}
