// Exponentially weighted mean and variance of a stream of samples (per sample, not per unit of
// time: a variant that serves few requests keeps its last estimate rather than decaying to zero).
// The variance gives a tail estimate, mean + z × stddev, used as a cheap p99 stand-in.

/** z for the 99th percentile of a normal distribution. */
export const Z_P99 = 2.326;

export class Ewma {
  private mean = 0;
  private variance = 0;
  private samples = 0;

  /** `alpha` in (0, 1]: the weight of each new sample. */
  constructor(private readonly alpha: number) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
  }

  update(sample: number): void {
    if (!Number.isFinite(sample)) return;
    if (this.samples === 0) {
      this.mean = sample;
    } else {
      // Incremental exponentially weighted variance (Finch, "Incremental calculation of weighted mean and variance", 2009).
      const diff = sample - this.mean;
      const increment = this.alpha * diff;
      this.mean += increment;
      this.variance = (1 - this.alpha) * (this.variance + diff * increment);
    }
    this.samples++;
  }

  /** Undefined before the first sample. */
  get value(): number | undefined {
    return this.samples === 0 ? undefined : this.mean;
  }

  get stddev(): number | undefined {
    return this.samples === 0 ? undefined : Math.sqrt(this.variance);
  }

  /** mean + z × stddev; undefined before the first sample. */
  upper(z = Z_P99): number | undefined {
    return this.samples === 0 ? undefined : this.mean + z * Math.sqrt(this.variance);
  }

  get count(): number {
    return this.samples;
  }
}
