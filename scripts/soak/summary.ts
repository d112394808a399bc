// The soak run's verdict from what the client saw and what was sampled, with no I/O: which
// requests were lost, the latency outside fault windows, and the router's memory growth.
import { nearestRank } from '../../common/stats.js';

export type Outcome = 'answered' | 'error' | 'lost';

export interface SoakRecord {
  /** When the request was due, ms from the start of the run (open loop: latency counts from here). */
  dueMs: number;
  latencyMs: number;
  status: number;
  outcome: Outcome;
  /** The error the client was given, or why the request counts as lost. */
  error?: string;
}

export interface FaultWindow {
  what: string;
  fromMs: number;
  toMs: number;
}

export interface RssSample {
  atMs: number;
  bytes: number;
}

export interface SoakChecks {
  lost_requests: boolean;
  router_rss_growth: boolean;
  p99_ms_outside_faults: boolean;
}

export interface SoakSummary {
  minutes: number;
  requests: number;
  lost_requests: number;
  errors: number;
  errors_outside_faults: number;
  errors_by_message: Record<string, number>;
  /** RSS growth after a forced garbage collection at the baseline and at the end (the check). */
  router_rss_growth: number;
  router_rss_mb: { baseline: number; end: number };
  /** Growth of the sampled RSS (garbage included), second tenth to last tenth. */
  router_rss_growth_sampled: number;
  p99_ms_outside_faults: number;
  p50_ms_outside_faults: number;
  p99_ms_in_faults: number;
  sla_p99_ms: number;
  fault_windows: number;
  checks: SoakChecks;
  passed: boolean;
}

export const MAX_RSS_GROWTH = 0.1;

/**
 * An HTTP answer's outcome: 200 with a prediction is answered; a 4xx/5xx whose JSON body carries a
 * non-empty `error` is a clear error; anything else (no answer, a bare status) is lost.
 */
export function classify(status: number, body: unknown): { outcome: Outcome; error?: string } {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  if (status === 200 && typeof record.prediction === 'number') return { outcome: 'answered' };
  if (status >= 400 && typeof record.error === 'string' && record.error.trim() !== '') return { outcome: 'error', error: record.error };
  return { outcome: 'lost', error: status === 0 ? 'no answer' : `HTTP ${status} without an error message` };
}

export function inFault(atMs: number, windows: readonly FaultWindow[]): boolean {
  return windows.some((w) => atMs >= w.fromMs && atMs <= w.toMs);
}

const median = (values: number[]): number => (values.length === 0 ? Number.NaN : nearestRank([...values].sort((a, b) => a - b), 0.5));
const percentile = (values: number[], q: number): number => (values.length === 0 ? Number.NaN : nearestRank([...values].sort((a, b) => a - b), q));

/**
 * Growth of the router's RSS from its baseline (the median over the run's second tenth, once
 * caches and pools are warm) to its end (the median over the last tenth).
 */
export function rssGrowth(samples: readonly RssSample[], durationMs: number): { baseline: number; end: number; growth: number } {
  const tenth = durationMs / 10;
  const baseline = median(samples.filter((s) => s.atMs >= tenth && s.atMs < 2 * tenth).map((s) => s.bytes));
  const end = median(samples.filter((s) => s.atMs >= durationMs - tenth).map((s) => s.bytes));
  return { baseline, end, growth: end / baseline - 1 };
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export function summarizeSoak(input: {
  records: readonly SoakRecord[];
  faults: readonly FaultWindow[];
  rss: readonly RssSample[];
  /** The router's RSS right after a forced garbage collection, once warm and at the end. */
  rssAfterGc: { baseline: number; end: number };
  durationMs: number;
  slaP99Ms: number;
}): SoakSummary {
  const { records, faults, slaP99Ms } = input;
  const outside = records.filter((r) => !inFault(r.dueMs, faults));
  const inside = records.filter((r) => inFault(r.dueMs, faults));
  const answeredLatency = (list: readonly SoakRecord[]) => list.filter((r) => r.outcome === 'answered').map((r) => r.latencyMs);
  const errorsByMessage: Record<string, number> = {};
  for (const r of records) {
    if (r.outcome === 'answered') continue;
    // Numbers vary per request (latencies, counts); the message's shape is what groups them.
    const key = `${r.outcome}: ${(r.error ?? '').replace(/\d+(\.\d+)?/g, 'N').slice(0, 160)}`;
    errorsByMessage[key] = (errorsByMessage[key] ?? 0) + 1;
  }
  const sampled = rssGrowth(input.rss, input.durationMs);
  const rss = { ...input.rssAfterGc, growth: input.rssAfterGc.end / input.rssAfterGc.baseline - 1 };
  const lost = records.filter((r) => r.outcome === 'lost').length;
  const p99Outside = percentile(answeredLatency(outside), 0.99);
  const checks: SoakChecks = {
    lost_requests: lost === 0,
    router_rss_growth: Number.isFinite(rss.growth) && rss.growth < MAX_RSS_GROWTH,
    p99_ms_outside_faults: p99Outside <= slaP99Ms,
  };
  return {
    minutes: round(input.durationMs / 60_000, 2),
    requests: records.length,
    lost_requests: lost,
    errors: records.filter((r) => r.outcome === 'error').length,
    errors_outside_faults: outside.filter((r) => r.outcome !== 'answered').length,
    errors_by_message: errorsByMessage,
    router_rss_growth: round(rss.growth, 4),
    router_rss_mb: { baseline: round(rss.baseline / 2 ** 20, 1), end: round(rss.end / 2 ** 20, 1) },
    router_rss_growth_sampled: round(sampled.growth, 4),
    p99_ms_outside_faults: round(p99Outside),
    p50_ms_outside_faults: round(percentile(answeredLatency(outside), 0.5)),
    p99_ms_in_faults: round(percentile(answeredLatency(inside), 0.99)),
    sla_p99_ms: slaP99Ms,
    fault_windows: faults.length,
    checks,
    passed: Object.values(checks).every(Boolean),
  };
}
