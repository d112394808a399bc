/**
 * `npm run models:score -- --workload W [--rows N]` or `-- --models DIR --data FILE`: scores the
 * four variants of a cascade on the same labelled rows, as they are served (onnxruntime-node,
 * graphs with a batch-wide activation scale one row at a time), and compares each with full as a
 * paired test. The model cards' accuracy comes from a 10,000-row (sessions-32) or 2,000-row
 * (digits) held-out split, which cannot order variants that differ by a tenth of a point; the
 * sessions-32 generator can draw as many fresh rows as that takes. Writes
 * reports/models-score-<name>.json.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Dataset } from '../data/dataset.js';
import { digitsSplit } from '../data/digits.js';
import { DEFAULT_SESSIONS32, sessions32Dataset } from '../data/sessions32.js';
import { loadUserDataset } from '../data/user-dataset.js';
import { isWorkloadName, WORKLOADS } from '../data/workloads.js';
import { readModelInfo } from '../../variant-server/card.js';
import { loadVariant } from '../../variant-server/runtime.js';
import { argmaxRows } from '../../variant-server/tensors.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { pairedAccuracy } from './paired-accuracy.js';
import { ROLES_IN_COST_ORDER } from './roles.js';

/** A stream no model or policy trace was built from (those use seed * 1000 + 1, 2 and 3). */
export const SCORE_STREAM_SEED = DEFAULT_SESSIONS32.seed * 1000 + 7;
const FP32_BATCH = 256;

export interface ScoreArgs {
  name: string;
  modelsDir: string;
  data: { kind: 'sessions-32'; rows: number } | { kind: 'digits' } | { kind: 'file'; file: string; labelColumn?: string };
}

export function parseScoreArgs(argv: string[]): ScoreArgs {
  const { values } = parseArgs({
    args: argv,
    options: { workload: { type: 'string' }, rows: { type: 'string' }, models: { type: 'string' }, data: { type: 'string' }, 'label-column': { type: 'string' } },
  });
  const usage = 'use --workload sessions-32|digits [--rows N], or --models DIR --data FILE.csv|FILE.jsonl [--label-column NAME]';
  if (values.workload !== undefined) {
    if (values.data !== undefined) throw new Error(`--workload and --data are exclusive: ${usage}`);
    if (!isWorkloadName(values.workload)) throw new Error(`--workload "${values.workload}" is unknown: one of ${WORKLOADS.join(', ')}`);
    const modelsDir = resolve(values.models ?? join(ROOT, 'models', values.workload));
    if (values.workload === 'digits') {
      if (values.rows !== undefined) throw new Error('--rows applies to sessions-32 only: digits is scored on its 2,000 held-out digits, the only ones no variant trained on');
      return { name: 'digits', modelsDir, data: { kind: 'digits' } };
    }
    const rows = Number(values.rows ?? 1_000_000);
    if (!Number.isInteger(rows) || rows < 1000) throw new Error(`--rows must be an integer >= 1000, got "${values.rows}"`);
    return { name: 'sessions-32', modelsDir, data: { kind: 'sessions-32', rows } };
  }
  if (values.data === undefined || values.models === undefined) throw new Error(`missing arguments: ${usage}`);
  if (values.rows !== undefined) throw new Error('--rows applies to --workload sessions-32 only; --data is scored whole');
  const file = resolve(values.data);
  const name = file.replace(/^.*\//, '').replace(/\.[^.]*$/, '');
  return { name, modelsDir: resolve(values.models), data: { kind: 'file', file, ...(values['label-column'] ? { labelColumn: values['label-column'] } : {}) } };
}

function dataset(args: ScoreArgs): { data: Dataset; source: string } {
  const spec = args.data;
  if (spec.kind === 'sessions-32') {
    return { data: sessions32Dataset(spec.rows, SCORE_STREAM_SEED), source: `sessions-32: ${spec.rows} fresh rows of stream ${SCORE_STREAM_SEED} (drift-free; no variant or policy trace was built from it)` };
  }
  if (spec.kind === 'digits') return { data: digitsSplit().test, source: 'digits: the held-out split (2,000 digits)' };
  return { data: loadUserDataset(spec.file, spec.labelColumn ? { labelColumn: spec.labelColumn } : {}), source: spec.file };
}

type Log = (message: string) => void;
const stderrLog: Log = (message) => process.stderr.write(`[models:score] ${message}\n`);

/** 1 where `role`'s answer matches the label, row by row. */
async function scoreVariant(directory: string, data: Dataset, role: string, log: Log): Promise<Uint8Array> {
  const runtime = await loadVariant(directory, { device: 'cpu' });
  try {
    if (runtime.inputDim !== data.dim) throw new Error(`${role}: the model takes ${runtime.inputDim} features per row, the data has ${data.dim}`);
    if (runtime.classes !== data.classes) throw new Error(`${role}: the model has ${runtime.classes} classes, the data's labels span ${data.classes}`);
    // DynamicQuantizeLinear takes one activation scale over the whole batch: score as served, alone.
    const batch = readModelInfo(directory).encoder.dynamicQuantization ? 1 : FP32_BATCH;
    const rows = data.labels.length;
    const correct = new Uint8Array(rows);
    const started = Date.now();
    let reported = started;
    for (let start = 0; start < rows; start += batch) {
      const count = Math.min(batch, rows - start);
      const x = data.features.subarray(start * data.dim, (start + count) * data.dim);
      const { logits } = await runtime.classify(await runtime.encode(x, count), count);
      argmaxRows(logits, count).forEach((predicted, i) => {
        correct[start + i] = predicted === data.labels[start + i] ? 1 : 0;
      });
      if (Date.now() - reported > 10_000) {
        reported = Date.now();
        log(`  ${role}: ${start + count}/${rows} rows (${Math.round((start + count) / ((reported - started) / 1000))} rows/s, batch ${batch})`);
      }
    }
    log(`${role}: ${rows} rows in ${((Date.now() - started) / 1000).toFixed(1)} s (batch ${batch})`);
    return correct;
  } finally {
    await runtime.close();
  }
}

export type ScoreReport = ReturnType<typeof pairedAccuracy> & { name: string; models: string; data: string; seconds: number };

/** Scores every variant in `args.modelsDir` on the chosen rows and compares each with full. */
export async function scoreCascade(args: ScoreArgs, log: Log = stderrLog): Promise<ScoreReport> {
  for (const role of ROLES_IN_COST_ORDER) {
    if (!existsSync(join(args.modelsDir, role))) throw new Error(`${join(args.modelsDir, role)} does not exist: --models must hold full/, pruned/, quantized/ and distilled/`);
  }
  const started = Date.now();
  const { data, source } = dataset(args);
  log(`${source}: ${data.labels.length} rows, scoring ${ROLES_IN_COST_ORDER.join(', ')} from ${args.modelsDir}`);
  const correct: Record<string, Uint8Array> = {};
  for (const role of ROLES_IN_COST_ORDER) correct[role] = await scoreVariant(join(args.modelsDir, role), data, role, log);
  return { name: args.name, models: args.modelsDir, data: source, seconds: (Date.now() - started) / 1000, ...pairedAccuracy(correct, 'full') };
}

async function main(): Promise<void> {
  const report = await scoreCascade(parseScoreArgs(process.argv.slice(2)));
  mkdirSync(join(ROOT, 'reports'), { recursive: true });
  const out = join(ROOT, 'reports', `models-score-${report.name}.json`);
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const pct = (x: number) => `${(x * 100).toFixed(3)}%`;
  console.table(
    ROLES_IN_COST_ORDER.map((role) => {
      const v = report.variants[role]!;
      const d = report.paired_vs_reference[role];
      return {
        role,
        accuracy: pct(v.accuracy),
        '95% CI': `${pct(v.ci95[0])} to ${pct(v.ci95[1])}`,
        'vs full (points)': d ? `${d.difference_points.toFixed(3)} (${d.ci95_points[0].toFixed(3)} to ${d.ci95_points[1].toFixed(3)})` : '',
        'McNemar p': d ? (d.mcnemar_p < 1e-16 ? '< 1e-16' : d.mcnemar_p.toPrecision(2)) : '',
      };
    }),
  );
  stderrLog(`full most accurate: ${report.reference_most_accurate}; significantly better than: ${report.reference_significantly_better_than.join(', ') || 'none'}`);
  stderrLog(`wrote ${out}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`[models:score] error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
