// Where experiments write: reports/experiment-<name>.json, plots beside it, and a markdown summary.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../scripts/cluster/paths.js';

export interface ExperimentContext {
  seed: number;
  log: (message: string) => void;
}

export interface ExperimentReport {
  name: string;
  json: Record<string, unknown>;
  /** File name (under reports/, prefixed experiment-) to SVG text. */
  plots: Record<string, string>;
  /** Fields of this report that also depend on timing, beyond TIMING_FIELDS (e.g. hit rates under real-time TTLs). */
  timingFields?: string[];
  summary: string;
}

/** Fields that vary between runs with the same seed (wall-clock timing); everything else repeats. */
export const TIMING_FIELDS = new Set([
  'generated_at', 'seconds', 'detection_delay_seconds', 'mean_ms', 'p50_ms', 'p95_ms', 'p99_ms', 'rps', 'cpu_us_per_request',
  'router_cpu_us_per_request', 'variants_cpu_us_per_request', 'hit_p50_ms', 'miss_p50_ms', 'latency', 'at',
]);

/** A copy without timing fields, for comparing two runs. */
export function withoutTiming(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTiming);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([key]) => !TIMING_FIELDS.has(key)).map(([key, v]) => [key, withoutTiming(v)]));
  }
  return value;
}

export function writeReport(report: ExperimentReport, directory = path.join(ROOT, 'reports')): string[] {
  mkdirSync(directory, { recursive: true });
  const written: string[] = [];
  const file = (name: string, text: string) => {
    writeFileSync(path.join(directory, name), text.endsWith('\n') ? text : `${text}\n`);
    written.push(path.join(path.relative(ROOT, directory), name));
  };
  file(`experiment-${report.name}.json`, JSON.stringify({ ...report.json, generated_at: new Date().toISOString(), timing_fields: [...TIMING_FIELDS, ...(report.timingFields ?? [])] }, null, 2));
  for (const [name, svg] of Object.entries(report.plots)) file(`experiment-${name}`, svg);
  file(`experiment-${report.name}.md`, report.summary);
  return written;
}
