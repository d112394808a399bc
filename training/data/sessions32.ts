/**
 * `sessions-32`: the research prototype's request shape.
 *
 * Generating process (all from one seed):
 * - A request has 32 float features: a context prefix (the first `prefixLength`, default 8) and a
 *   suffix (the other 24).
 * - A session draws its prefix p ~ N(0, I) once and a suffix centre c ~ N(0, I). Each request of
 *   the session keeps p and draws its suffix as c + withinSessionSpread * N(0, I), so requests of
 *   one session share the prefix exactly and differ in the suffix.
 * - The label is 1[f(x) + labelNoise * N(0, 1) > 0] where f is a fixed random function, a sum of
 *   `components` sinusoids of random projections of x plus a linear term, centred on its median
 *   so the two classes are balanced. Inputs with small
 *   |f(x)| sit near the decision boundary: they are the hard ones, and label noise there makes
 *   part of the error irreducible. `margin` (|f(x)|) is returned as the ground-truth difficulty.
 * - Drift: a schedule over the request index shifts the suffix by magnitude * ramp(t) along a
 *   fixed unit direction, while the prefix distribution stays fixed. ramp is 0 before `onset`,
 *   rises linearly to 1 over `rampRequests`, and falls back to 0 at `recovery` (if given).
 */
import type { Dataset, Split } from './dataset.js';
import { seededRandom, type Random } from '../../common/random.js';

export const SESSIONS32_DIM = 32;

export interface Sessions32Options {
  seed: number;
  prefixLength: number;
  withinSessionSpread: number;
  labelNoise: number;
  components: number;
  frequency: number;
}

export const DEFAULT_SESSIONS32: Sessions32Options = {
  seed: 32,
  prefixLength: 8,
  withinSessionSpread: 0.35,
  labelNoise: 0.05,
  components: 32,
  frequency: 1.1,
};

export interface DriftSchedule {
  onset: number;
  rampRequests: number;
  magnitude: number;
  recovery?: number;
}

export interface SessionRequest {
  index: number;
  session: number;
  features: Float32Array;
  label: number;
  margin: number;
  driftShift: number;
}

/** The fixed labelling function f, drawn from the seed. */
export interface LabelFunction {
  value(x: Float32Array): number;
}

export function labelFunction(options: Sessions32Options): LabelFunction {
  const random = seededRandom(options.seed ^ 0x5eed);
  const dim = SESSIONS32_DIM;
  const directions: Float64Array[] = [];
  const phases: number[] = [];
  const amplitudes: number[] = [];
  for (let m = 0; m < options.components; m++) {
    const w = new Float64Array(dim);
    for (let i = 0; i < dim; i++) w[i] = (random.gaussian() * options.frequency) / Math.sqrt(dim);
    directions.push(w);
    phases.push(random.next() * 2 * Math.PI);
    amplitudes.push(random.gaussian() / Math.sqrt(options.components));
  }
  const linear = new Float64Array(dim);
  for (let i = 0; i < dim; i++) linear[i] = (0.3 * random.gaussian()) / Math.sqrt(dim);
  const raw = (x: ArrayLike<number>): number => {
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += linear[i]! * x[i]!;
    for (let m = 0; m < directions.length; m++) {
      const w = directions[m]!;
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += w[i]! * x[i]!;
      sum += amplitudes[m]! * Math.sin(dot + phases[m]!);
    }
    return sum;
  };
  // Centre f on its median over the drift-free request distribution, so classes are balanced.
  const draws: number[] = [];
  const x = new Float64Array(dim);
  for (let n = 0; n < 4001; n++) {
    for (let i = 0; i < dim; i++) {
      x[i] = random.gaussian() + (i < options.prefixLength ? 0 : options.withinSessionSpread * random.gaussian());
    }
    draws.push(raw(x));
  }
  draws.sort((a, b) => a - b);
  const median = draws[2000]!;
  return { value: (features: Float32Array): number => raw(features) - median };
}

/** Unit direction in suffix space along which drift shifts requests. */
export function driftDirection(options: Sessions32Options): Float64Array {
  const random = seededRandom(options.seed ^ 0xd1f7);
  const suffix = SESSIONS32_DIM - options.prefixLength;
  const u = new Float64Array(suffix);
  let norm = 0;
  for (let i = 0; i < suffix; i++) {
    u[i] = random.gaussian();
    norm += u[i]! * u[i]!;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < suffix; i++) u[i] = u[i]! / norm;
  return u;
}

export function driftAt(schedule: DriftSchedule | undefined, index: number): number {
  if (!schedule || index < schedule.onset) return 0;
  if (schedule.recovery !== undefined && index >= schedule.recovery) return 0;
  const ramp = schedule.rampRequests <= 0 ? 1 : Math.min(1, (index - schedule.onset) / schedule.rampRequests);
  return schedule.magnitude * ramp;
}

interface Session {
  id: number;
  prefix: Float64Array;
  centre: Float64Array;
  remaining: number;
}

function newSession(id: number, options: Sessions32Options, random: Random, length: number, tenantPrefixes?: Float64Array[]): Session {
  const suffix = SESSIONS32_DIM - options.prefixLength;
  const prefix = new Float64Array(options.prefixLength);
  const centre = new Float64Array(suffix);
  for (let i = 0; i < prefix.length; i++) prefix[i] = random.gaussian();
  for (let i = 0; i < suffix; i++) centre[i] = random.gaussian();
  if (tenantPrefixes) prefix.set(tenantPrefixes[random.int(tenantPrefixes.length)]!);
  return { id, prefix, centre, remaining: length };
}

function tenantPrefixes(tenants: StreamOptions['tenants'], options: Sessions32Options): Float64Array[] | undefined {
  if (!tenants) return undefined;
  if (!Number.isInteger(tenants.count) || tenants.count < 1) throw new RangeError(`tenants.count must be a positive integer, got ${tenants.count}`);
  if (!Number.isInteger(tenants.sharedFeatures) || tenants.sharedFeatures < 1 || tenants.sharedFeatures > options.prefixLength) {
    throw new RangeError(`tenants.sharedFeatures must be an integer from 1 to the prefix length ${options.prefixLength}, got ${tenants.sharedFeatures}`);
  }
  // Their own generator, so adding tenants does not shift the rest of the stream's draws.
  const random = seededRandom(0x7e4a47 ^ tenants.count);
  return Array.from({ length: tenants.count }, () => Float64Array.from({ length: tenants.sharedFeatures }, () => random.gaussian()));
}

export interface StreamOptions {
  /** Seed of this stream (distinct from the workload seed, which fixes f and the drift axis). */
  streamSeed: number;
  activeSessions: number;
  requestsPerSession: number;
  drift?: DriftSchedule;
  /**
   * Spread of a session's suffix around its centre for this stream; defaults to the workload's.
   * Traffic whose requests vary less within a session than the training data (e.g. repeated
   * lookups) is a mild covariate shift the models handle.
   */
  withinSessionSpread?: number;
  /**
   * Sessions grouped under tenants that share the first `sharedFeatures` prefix features (each tenant
   * draws them once from the same N(0, 1)), so keys shorter than the session prefix collide across
   * a tenant's sessions. The request distribution is unchanged.
   */
  tenants?: { count: number; sharedFeatures: number };
  /** Probability that a request repeats its session's previous request exactly (a retry or re-score). */
  repeatProbability?: number;
}

/** An endless stream of requests from interleaved sessions, with an optional drift schedule. */
export function* sessionStream(stream: StreamOptions, options: Sessions32Options = DEFAULT_SESSIONS32): Generator<SessionRequest> {
  const random = seededRandom(stream.streamSeed);
  const f = labelFunction(options);
  const direction = driftDirection(options);
  const spread = stream.withinSessionSpread ?? options.withinSessionSpread;
  const tenants = tenantPrefixes(stream.tenants, options);
  const repeatProbability = stream.repeatProbability ?? 0;
  if (!(repeatProbability >= 0 && repeatProbability < 1)) throw new RangeError(`repeatProbability must be in [0, 1), got ${repeatProbability}`);
  const repeats = repeatProbability > 0 ? seededRandom(stream.streamSeed ^ 0x4e9ea7) : undefined;
  let nextSessionId = 0;
  const active: Session[] = [];
  const previous = new Map<number, SessionRequest>();
  for (let i = 0; i < stream.activeSessions; i++) {
    active.push(newSession(nextSessionId++, options, random, stream.requestsPerSession, tenants));
  }
  for (let index = 0; ; index++) {
    const slot = random.int(active.length);
    const session = active[slot]!;
    const shift = driftAt(stream.drift, index);
    const last = previous.get(session.id);
    if (repeats && last && repeats.next() < repeatProbability) {
      const repeated: SessionRequest = { ...last, index, features: Float32Array.from(last.features) };
      yield repeated;
    } else {
      const features = new Float32Array(SESSIONS32_DIM);
      features.set(session.prefix);
      for (let i = 0; i < session.centre.length; i++) {
        const value = session.centre[i]! + spread * random.gaussian() + shift * direction[i]!;
        features[options.prefixLength + i] = value;
      }
      const value = f.value(features);
      const label = value + options.labelNoise * random.gaussian() > 0 ? 1 : 0;
      const request: SessionRequest = { index, session: session.id, features, label, margin: Math.abs(value), driftShift: shift };
      if (repeats) previous.set(session.id, request);
      yield request;
    }
    session.remaining -= 1;
    if (session.remaining <= 0) {
      previous.delete(session.id);
      active[slot] = newSession(nextSessionId++, options, random, stream.requestsPerSession, tenants);
    }
  }
}

/** `count` requests from the drift-free process, as a data set. */
export function sessions32Dataset(count: number, streamSeed: number, options: Sessions32Options = DEFAULT_SESSIONS32): Dataset {
  const features = new Float32Array(count * SESSIONS32_DIM);
  const labels = new Int32Array(count);
  // One request per session: rows are independent draws from the drift-free request distribution.
  const stream = sessionStream({ streamSeed, activeSessions: 1, requestsPerSession: 1 }, options);
  for (let i = 0; i < count; i++) {
    const request = stream.next().value as SessionRequest;
    features.set(request.features, i * SESSIONS32_DIM);
    labels[i] = request.label;
  }
  return { name: 'sessions-32', dim: SESSIONS32_DIM, classes: 2, features, labels };
}

/** The reference train/test split: separate streams, so no session spans both. */
export function sessions32Split(options: Sessions32Options = DEFAULT_SESSIONS32): Split {
  return {
    train: sessions32Dataset(80_000, options.seed * 1000 + 1, options),
    test: sessions32Dataset(10_000, options.seed * 1000 + 2, options),
  };
}
