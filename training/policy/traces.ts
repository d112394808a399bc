// The two traces of a workload, cached under .cache/policy/<workload>/: `train` (fresh requests
// from the workload's generator, never seen by the variants' training) for the estimator and the
// policy, and `heldout` (the model cards' held-out split) for evaluation only. Recorded once from
// live variant servers; `--record` records again, and so does a change of the variants' models
// (their cards' sha256), since a trace measures those exact graphs.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROLES } from '../../crds/types.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import type { Dataset } from '../data/dataset.js';
import { DEFAULT_SESSIONS32, sessions32Dataset, sessions32Split } from '../data/sessions32.js';
import { recordServiceProfile, recordTraceRows, startRecordingCascade } from './record.js';
import { distilledInProcessCpuMs } from './signals.js';
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

/** One digest over the workload's four model cards' sha256: what a recorded trace was measured on. */
export function modelsFingerprint(workload: string): string {
  const digest = createHash('sha256');
  for (const role of ROLES) {
    const card = path.join(ROOT, 'models', workload, role, 'card.json');
    if (!existsSync(card)) throw new Error(`${path.relative(ROOT, card)} is missing: run npm run models:build -- --workload ${workload}`);
    const sha = (JSON.parse(readFileSync(card, 'utf8')) as { sha256?: unknown }).sha256;
    if (typeof sha !== 'string') throw new Error(`${path.relative(ROOT, card)}: sha256 is missing`);
    digest.update(`${role}:${sha}\n`);
  }
  return digest.digest('hex');
}

function fingerprintFile(workload: string): string {
  return path.join(ROOT, '.cache', 'policy', workload, 'models.sha256');
}

export interface TraceOptions {
  record?: boolean;
  log: (message: string) => void;
}

export async function loadOrRecordTraces(workload: string, options: TraceOptions): Promise<Record<TraceName, Trace>> {
  const files = { train: traceFile(workload, 'train'), heldout: traceFile(workload, 'heldout') };
  const fingerprint = modelsFingerprint(workload);
  if (!options.record && existsSync(files.train) && existsSync(files.heldout)) {
    const recordedOn = existsSync(fingerprintFile(workload)) ? readFileSync(fingerprintFile(workload), 'utf8').trim() : undefined;
    if (recordedOn === fingerprint) {
      options.log(`traces: reusing ${path.relative(ROOT, path.dirname(files.train))}/ (pass --record to record again)`);
      const traces = {
        train: traceFromJson(JSON.parse(readFileSync(files.train, 'utf8')), files.train),
        heldout: traceFromJson(JSON.parse(readFileSync(files.heldout, 'utf8')), files.heldout),
      };
      // Traces recorded before this figure existed get it once, stored with them.
      if (traces.train.service.distilledInProcessCpuMs === undefined) {
        const cpuMs = await distilledInProcessCpuMs(workload, traces.heldout.rows.features, traces.heldout.rows.dim);
        for (const name of ['train', 'heldout'] as const) {
          traces[name].service.distilledInProcessCpuMs = cpuMs;
          writeFileSync(files[name], JSON.stringify(traceToJson(traces[name])));
        }
      }
      return traces;
    }
    options.log(`traces: the models in models/${workload}/ changed since the cached traces were recorded: recording again`);
  }
  const datasets = policyDatasets(workload);
  options.log('traces: starting the four variant servers and a router to record from');
  const cascade = await startRecordingCascade(options.log);
  try {
    const service = await recordServiceProfile(cascade, datasets.heldout, { concurrencies: [1, 4, 16], requestsPerLevel: 1500, log: options.log });
    service.distilledInProcessCpuMs = await distilledInProcessCpuMs(workload, datasets.heldout.features, datasets.heldout.dim);
    options.log(`distilled in process: ${service.distilledInProcessCpuMs.toFixed(3)} ms CPU per request`);
    const traces: Record<TraceName, Trace> = {
      train: { rows: await recordTraceRows(cascade, datasets.train, options.log), service },
      heldout: { rows: await recordTraceRows(cascade, datasets.heldout, options.log), service },
    };
    mkdirSync(path.dirname(files.train), { recursive: true });
    for (const name of ['train', 'heldout'] as const) writeFileSync(files[name], JSON.stringify(traceToJson(traces[name])));
    writeFileSync(fingerprintFile(workload), `${fingerprint}\n`);
    return traces;
  } finally {
    await cascade.stop();
  }
}
