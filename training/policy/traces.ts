// The two traces of a workload, cached under .cache/policy/<workload>/: `train` (fresh requests
// from the workload's generator, never seen by the variants' training) for the estimator and the
// policy, and `heldout` (the model cards' held-out split) for evaluation only. Recorded once from
// live variant servers; `--record` records again.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import type { Dataset } from '../data/dataset.js';
import { DEFAULT_SESSIONS32, sessions32Dataset, sessions32Split } from '../data/sessions32.js';
import { recordServiceProfile, recordTraceRows, startRecordingCascade } from './record.js';
import { traceFromJson, traceToJson, type Trace } from './trace.js';

export type TraceName = 'train' | 'heldout';

export interface PolicyDatasets {
  train: Dataset;
  heldout: Dataset;
}

export const TRACE_ROWS = { train: 20_000 } as const;

export function policyDatasets(workload: string): PolicyDatasets {
  if (workload !== 'sessions-32') {
    throw new Error(`workload must be sessions-32 for policy training (the sample cascade serves it), got ${JSON.stringify(workload)}`);
  }
  return {
    train: sessions32Dataset(TRACE_ROWS.train, DEFAULT_SESSIONS32.seed * 1000 + 3),
    heldout: sessions32Split().test,
  };
}

export function traceFile(workload: string, name: TraceName): string {
  return path.join(ROOT, '.cache', 'policy', workload, `trace-${name}.json`);
}

export interface TraceOptions {
  record?: boolean;
  log: (message: string) => void;
}

export async function loadOrRecordTraces(workload: string, options: TraceOptions): Promise<Record<TraceName, Trace>> {
  const files = { train: traceFile(workload, 'train'), heldout: traceFile(workload, 'heldout') };
  if (!options.record && existsSync(files.train) && existsSync(files.heldout)) {
    options.log(`traces: reusing ${path.relative(ROOT, path.dirname(files.train))}/ (pass --record to record again)`);
    return {
      train: traceFromJson(JSON.parse(readFileSync(files.train, 'utf8')), files.train),
      heldout: traceFromJson(JSON.parse(readFileSync(files.heldout, 'utf8')), files.heldout),
    };
  }
  const datasets = policyDatasets(workload);
  options.log('traces: starting the four variant servers and a router to record from');
  const cascade = await startRecordingCascade(options.log);
  try {
    const service = await recordServiceProfile(cascade, datasets.heldout, { concurrencies: [1, 4, 16], requestsPerLevel: 1500, log: options.log });
    const traces: Record<TraceName, Trace> = {
      train: { rows: await recordTraceRows(cascade, datasets.train, options.log), service },
      heldout: { rows: await recordTraceRows(cascade, datasets.heldout, options.log), service },
    };
    mkdirSync(path.dirname(files.train), { recursive: true });
    for (const name of ['train', 'heldout'] as const) writeFileSync(files[name], JSON.stringify(traceToJson(traces[name])));
    return traces;
  } finally {
    await cascade.stop();
  }
}
