// Traces recorded from the real variant servers, the ground truth the routing policy is trained
// and judged on: per request its features, label and every variant's answer (prediction and
// confidence), and per variant the service it gives under load (latency samples and the server
// process's CPU time per request at several client concurrencies).
import { ROLES, type Role } from '../../crds/types.js';
import type { Dataset } from '../data/dataset.js';

export interface VariantAnswers {
  predictions: Int32Array;
  /** Top-class probability per request. */
  confidence: Float32Array;
}

export interface TraceRows {
  workload: string;
  dim: number;
  classes: number;
  features: Float32Array;
  labels: Int32Array;
  answers: Record<Role, VariantAnswers>;
}

export interface LoadLevel {
  concurrency: number;
  requests: number;
  /** Client-observed latency of one-row requests, sorted ascending. */
  latencyMs: number[];
  /** Variant server process CPU time per request. */
  cpuMsPerRequest: number;
  /** The load generator's own CPU time per request (it shares the machine). */
  clientCpuMsPerRequest: number;
  requestsPerSecond: number;
}

export interface ServiceProfile {
  /** Per role, one entry per measured concurrency. */
  variants: Record<Role, LoadLevel[]>;
  /** The router's own costs, measured on the same machine in the same run. */
  router: { cpuMsPerRequest: number; addedLatencyMsP50: number };
  /**
   * CPU of one batch-1 run of the distilled model in a Node process (ms): what a router that
   * answers distilled itself spends per such request. Measured with the rest, so training from
   * the same traces stays reproducible.
   */
  distilledInProcessCpuMs?: number;
  machine: { cpus: number };
}

export interface Trace {
  rows: TraceRows;
  service: ServiceProfile;
}

export function rowsOf(trace: TraceRows): number {
  return trace.labels.length;
}

export function isCorrect(trace: TraceRows, role: Role, index: number): boolean {
  return trace.answers[role].predictions[index] === trace.labels[index];
}

export function accuracyOf(trace: TraceRows, role: Role, indices?: readonly number[]): number {
  const rows = indices ?? Array.from({ length: rowsOf(trace) }, (_, i) => i);
  let correct = 0;
  for (const i of rows) if (isCorrect(trace, role, i)) correct++;
  return correct / Math.max(1, rows.length);
}

/** Rows `indices` of a trace, in that order (for train/validation splits of a recorded trace). */
export function traceSubset(trace: TraceRows, indices: readonly number[]): TraceRows {
  const features = new Float32Array(indices.length * trace.dim);
  const labels = new Int32Array(indices.length);
  const answers = {} as Record<Role, VariantAnswers>;
  for (const role of ROLES) answers[role] = { predictions: new Int32Array(indices.length), confidence: new Float32Array(indices.length) };
  indices.forEach((source, target) => {
    features.set(trace.features.subarray(source * trace.dim, (source + 1) * trace.dim), target * trace.dim);
    labels[target] = trace.labels[source]!;
    for (const role of ROLES) {
      answers[role].predictions[target] = trace.answers[role].predictions[source]!;
      answers[role].confidence[target] = trace.answers[role].confidence[source]!;
    }
  });
  return { workload: trace.workload, dim: trace.dim, classes: trace.classes, features, labels, answers };
}

/** JSON form: typed arrays as plain arrays. */
export function traceToJson(trace: Trace): unknown {
  const { rows } = trace;
  return {
    rows: {
      workload: rows.workload,
      dim: rows.dim,
      classes: rows.classes,
      features: Array.from(rows.features),
      labels: Array.from(rows.labels),
      answers: Object.fromEntries(ROLES.map((role) => [role, { predictions: Array.from(rows.answers[role].predictions), confidence: Array.from(rows.answers[role].confidence) }])),
    },
    service: trace.service,
  };
}

export class TraceError extends Error {
  override name = 'TraceError';
}

function numbers(value: unknown, field: string, length?: number): number[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) throw new TraceError(`${field} must be an array of finite numbers`);
  if (length !== undefined && value.length !== length) throw new TraceError(`${field} must hold ${length} values, got ${value.length}`);
  return value as number[];
}

export function traceFromJson(json: unknown, source: string): Trace {
  const root = json as { rows?: Record<string, unknown>; service?: ServiceProfile };
  if (!root || typeof root !== 'object' || !root.rows || !root.service) throw new TraceError(`${source}: must be an object with rows and service`);
  const r = root.rows;
  const dim = r.dim as number;
  if (!Number.isInteger(dim) || dim <= 0) throw new TraceError(`${source}: rows.dim must be a positive integer`);
  const labels = numbers(r.labels, `${source}: rows.labels`);
  const features = numbers(r.features, `${source}: rows.features`, labels.length * dim);
  const answersJson = r.answers as Record<string, { predictions?: unknown; confidence?: unknown }> | undefined;
  const answers = {} as Record<Role, VariantAnswers>;
  for (const role of ROLES) {
    const a = answersJson?.[role];
    if (!a) throw new TraceError(`${source}: rows.answers.${role} is missing`);
    answers[role] = {
      predictions: Int32Array.from(numbers(a.predictions, `${source}: rows.answers.${role}.predictions`, labels.length)),
      confidence: Float32Array.from(numbers(a.confidence, `${source}: rows.answers.${role}.confidence`, labels.length)),
    };
  }
  return {
    rows: { workload: String(r.workload), dim, classes: Number(r.classes), features: Float32Array.from(features), labels: Int32Array.from(labels), answers },
    service: root.service,
  };
}

/** Builds trace rows from a data set and each variant's batch answers. */
export function traceRows(dataset: Dataset, answers: Record<Role, VariantAnswers>): TraceRows {
  for (const role of ROLES) {
    if (answers[role].predictions.length !== dataset.labels.length) {
      throw new TraceError(`answers.${role} holds ${answers[role].predictions.length} rows, the data set ${dataset.labels.length}`);
    }
  }
  return { workload: dataset.name, dim: dataset.dim, classes: dataset.classes, features: dataset.features, labels: dataset.labels, answers };
}
