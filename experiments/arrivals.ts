// Open-loop arrival schedules: when each request is sent, fixed in advance from a seed, so latency
// under overload is measured honestly (a slow answer does not delay the next request).
//
// steady: a Poisson process at `rate`.
// bursty: on/off (a two-state Markov-modulated Poisson process): ON periods at peakFactor x rate,
// OFF periods at the rate that keeps the mean at `rate`; period lengths are exponential.
import { seededRandom } from '../common/random.js';

export type Profile = 'steady' | 'bursty';
export const PROFILES: readonly Profile[] = ['steady', 'bursty'];

export interface BurstShape {
  peakFactor: number;
  meanOnMs: number;
  meanOffMs: number;
}

export const DEFAULT_BURST: BurstShape = { peakFactor: 3, meanOnMs: 500, meanOffMs: 1500 };

export interface ArrivalOptions {
  profile: Profile;
  /** Mean requests per second. */
  rate: number;
  durationMs: number;
  seed: number;
  burst?: BurstShape;
}

/** The OFF-period rate that keeps the long-run mean at `rate`; throws when the shape cannot. */
export function offRate(rate: number, burst: BurstShape): number {
  const value = (rate * (burst.meanOnMs + burst.meanOffMs) - burst.meanOnMs * burst.peakFactor * rate) / burst.meanOffMs;
  if (value < 0) throw new RangeError(`burst peakFactor ${burst.peakFactor} with ON ${burst.meanOnMs} ms / OFF ${burst.meanOffMs} ms cannot average ${rate}/s`);
  return value;
}

/** Send times in ms from the start, ascending. */
export function arrivalTimes(options: ArrivalOptions): number[] {
  if (!(options.rate > 0)) throw new RangeError(`rate must be > 0, got ${options.rate}`);
  if (!(options.durationMs > 0)) throw new RangeError(`durationMs must be > 0, got ${options.durationMs}`);
  const random = seededRandom(options.seed);
  const exponential = (mean: number) => -Math.log(1 - random.next()) * mean;
  const times: number[] = [];
  if (options.profile === 'steady') {
    for (let t = exponential(1000 / options.rate); t < options.durationMs; t += exponential(1000 / options.rate)) times.push(t);
    return times;
  }
  const burst = options.burst ?? DEFAULT_BURST;
  const rates = { on: burst.peakFactor * options.rate, off: offRate(options.rate, burst) };
  let on = false;
  let periodStart = 0;
  while (periodStart < options.durationMs) {
    const periodEnd = Math.min(options.durationMs, periodStart + exponential(on ? burst.meanOnMs : burst.meanOffMs));
    const rate = on ? rates.on : rates.off;
    if (rate > 0) for (let t = periodStart + exponential(1000 / rate); t < periodEnd; t += exponential(1000 / rate)) times.push(t);
    periodStart = periodEnd;
    on = !on;
  }
  return times;
}
