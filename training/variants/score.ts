/**
 * `npm run models:score -- --workload W [--rows N]` or `-- --models DIR --data FILE`: scores the
 * four variants of a cascade on the same labelled rows, as they are served (onnxruntime-node,
 * graphs with a batch-wide activation scale one row at a time), and compares each with full as a
 * paired test. The model cards' accuracy comes from a 10,000-row (sessions-32) or 2,000-row
 * (digits) held-out split, which cannot order variants that differ by a tenth of a point; the
 * sessions-32 generator can draw as many fresh rows as that takes. Writes
 * reports/models-score-<name>.json (or --out).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Dataset } from '../data/dataset.js';
import { digitsSplit } from '../data/digits.js';
import { DEFAULT_SESSIONS32, sessions32Dataset } from '../data/sessions32.js';
import { loadUserDataset } from '../data/user-dataset.js';
import { isWorkloadName, WORKLOADS } from '../data/workloads.js';
import { readModelInfo } from '../../variant-server/card.js';
import { loadVariant, type VariantRuntime } from '../../variant-server/runtime.js';
import { ROOT } from '../../scripts/cluster/paths.js';
import { rowsAnsweredRight } from './answers.js';
import { pairedAccuracy, type PairedAccuracyReport } from './paired-accuracy.js';
import { ROLES_IN_COST_ORDER, type Role } from './roles.js';

/** A stream no model or policy trace was built from (those use seed * 1000 + 1, 2 and 3). */
export const SCORE_STREAM_SEED = DEFAULT_SESSIONS32.seed * 1000 + 7;
const FP32_BATCH = 256;

export const USAGE =
  'usage: npm run models:score -- --workload sessions-32|digits [--rows N] [--models DIR] [--out FILE]\n' +
  '       npm run models:score -- --models DIR --data FILE.csv|FILE.jsonl [--label-column NAME] [--out FILE]\n' +
  'DIR holds full/, pruned/, quantized/ and distilled/; --rows (sessions-32 only, default 1000000) fresh rows are drawn.';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ScoreArgs {
  modelsDir: string;
  out: string;
  data: { kind: 'sessions-32'; rows: number } | { kind: 'digits' } | { kind: 'file'; file: string; labelColumn?: string };
}

/** Undefined when --help was asked for. */
export function parseScoreArgs(argv: string[]): ScoreArgs | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        workload: { type: 'string' }, rows: { type: 'string' }, models: { type: 'string' }, data: { type: 'string' },
        'label-column': { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return undefined;
  const reportFor = (name: string) => resolve(values.out ?? join(ROOT, 'reports', `models-score-${name}.json`));
  if (values.workload !== undefined) {
    if (values.data !== undefined) throw new UsageError('--workload and --data are exclusive');
    if (!isWorkloadName(values.workload)) throw new UsageError(`--workload "${values.workload}" is unknown: one of ${WORKLOADS.join(', ')}`);
    const modelsDir = resolve(values.models ?? join(ROOT, 'models', values.workload));
    // Other models on a reference workload get their own report, not the reference one.
    const name = values.models === undefined ? values.workload : `${values.workload}-${basename(modelsDir)}`;
    if (values.workload === 'digits') {
      if (values.rows !== undefined) throw new UsageError('--rows applies to sessions-32 only: digits is scored on its 2,000 held-out digits, the only ones no variant trained on');
      return { modelsDir, out: reportFor(name), data: { kind: 'digits' } };
    }
    const rows = Number(values.rows ?? 1_000_000);
    if (!Number.isInteger(rows) || rows < 1000) throw new UsageError(`--rows must be an integer >= 1000, got "${values.rows}"`);
    return { modelsDir, out: reportFor(name), data: { kind: 'sessions-32', rows } };
  }
  if (values.data === undefined || values.models === undefined) throw new UsageError('give --workload, or --models and --data');
  if (values.rows !== undefined) throw new UsageError('--rows applies to --workload sessions-32 only; --data is scored whole');
  const file = resolve(values.data);
  return {
    modelsDir: resolve(values.models),
    out: reportFor(`data-${basename(file).replace(/\.[^.]*$/, '')}`),
    data: { kind: 'file', file, ...(values['label-column'] ? { labelColumn: values['label-column'] } : {}) },
  };
}

type Log = (message: string) => void;
const stderrLog: Log = (message) => process.stderr.write(`[models:score] ${message}\n`);

interface OpenVariant {
  role: Role;
  runtime: VariantRuntime;
  /** DynamicQuantizeLinear takes one activation scale over the whole batch: such graphs are scored alone, as served. */
  batch: number;
}

/** All four variants, opened and checked against each other before any row is scored. */
async function openVariants(modelsDir: string): Promise<OpenVariant[]> {
  const opened: OpenVariant[] = [];
  try {
    for (const role of ROLES_IN_COST_ORDER) {
      const directory = join(modelsDir, role);
      if (!existsSync(directory)) throw new Error(`${directory} does not exist: --models must hold full/, pruned/, quantized/ and distilled/`);
      const runtime = await loadVariant(directory, { device: 'cpu' });
      const info = readModelInfo(directory);
      opened.push({ role, runtime, batch: info.encoder.dynamicQuantization || info.head.dynamicQuantization ? 1 : FP32_BATCH });
    }
    const full = opened[0]!.runtime;
    for (const { role, runtime } of opened) {
      if (runtime.inputDim !== full.inputDim || runtime.classes !== full.classes) {
        throw new Error(`${role} takes ${runtime.inputDim} features into ${runtime.classes} classes, full ${full.inputDim} into ${full.classes}: not variants of one model`);
      }
    }
    return opened;
  } catch (error) {
    for (const { runtime } of opened) await runtime.close();
    throw error;
  }
}

function dataset(args: ScoreArgs, classes: number): { data: Dataset; source: string } {
  const spec = args.data;
  if (spec.kind === 'sessions-32') {
    return { data: sessions32Dataset(spec.rows, SCORE_STREAM_SEED), source: `sessions-32: ${spec.rows} fresh rows of stream ${SCORE_STREAM_SEED} (drift-free; no variant or policy trace was built from it)` };
  }
  if (spec.kind === 'digits') return { data: digitsSplit().test, source: 'digits: the held-out split (2,000 digits)' };
  // The models say how many classes there are: a file without any row of the last class still fits.
  const data = loadUserDataset(spec.file, { classes, ...(spec.labelColumn ? { labelColumn: spec.labelColumn } : {}) });
  return { data, source: spec.file };
}

/** 1 where the variant's answer matches the label, row by row, with progress every 10 s. */
async function scoreVariant({ role, runtime, batch }: OpenVariant, data: Dataset, log: Log): Promise<Uint8Array> {
  const rows = data.labels.length;
  const started = Date.now();
  let reported = started;
  const correct = await rowsAnsweredRight(runtime, data.features, data.labels, batch, (done) => {
    if (Date.now() - reported <= 10_000) return;
    reported = Date.now();
    const perSecond = done / ((reported - started) / 1000);
    log(`  ${role}: ${done}/${rows} rows (${Math.round(perSecond)} rows/s, batch ${batch}, about ${Math.ceil((rows - done) / perSecond)} s left)`);
  });
  log(`${role}: ${rows} rows in ${((Date.now() - started) / 1000).toFixed(1)} s (batch ${batch})`);
  return correct;
}

export type ScoreReport = PairedAccuracyReport & { models: string; data: string; seconds: number };

/** Scores every variant in `args.modelsDir` on the chosen rows and compares each with full. */
export async function scoreCascade(args: ScoreArgs, log: Log = stderrLog): Promise<ScoreReport> {
  const started = Date.now();
  const variants = await openVariants(args.modelsDir);
  try {
    const full = variants[0]!.runtime;
    if (args.data.kind === 'sessions-32') log(`drawing ${args.data.rows} sessions-32 rows`);
    const { data, source } = dataset(args, full.classes);
    if (data.dim !== full.inputDim) throw new Error(`the models take ${full.inputDim} features per row, ${source} has ${data.dim}`);
    log(`${source}: ${data.labels.length} rows, scoring ${ROLES_IN_COST_ORDER.join(', ')} from ${args.modelsDir}`);
    const correct: Record<string, Uint8Array> = {};
    for (const variant of variants) correct[variant.role] = await scoreVariant(variant, data, log);
    return { models: args.modelsDir, data: source, seconds: (Date.now() - started) / 1000, ...pairedAccuracy(correct, 'full') };
  } finally {
    for (const { runtime } of variants) await runtime.close();
  }
}

function printTable(report: ScoreReport): void {
  const pct = (x: number) => `${(x * 100).toFixed(3)}%`;
  const points = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
  console.table(
    ROLES_IN_COST_ORDER.map((role) => {
      const v = report.variants[role]!;
      const d = report.paired_vs_reference[role];
      return {
        role,
        accuracy: pct(v.accuracy),
        '95% CI': `${pct(v.ci95[0])} to ${pct(v.ci95[1])}`,
        'vs full (points, 95% CI)': d ? `${points(d.difference_points)} (${points(d.ci95_points[0])} to ${points(d.ci95_points[1])})` : '',
        'McNemar p': d ? (d.mcnemar_p < 1e-16 ? '< 1e-16' : d.mcnemar_p.toPrecision(2)) : '',
      };
    }),
  );
}

async function main(): Promise<void> {
  let args: ScoreArgs | undefined;
  try {
    args = parseScoreArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`[models:score] ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (!args) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const report = await scoreCascade(args);
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  printTable(report);
  const list = (roles: string[]) => roles.join(', ') || 'none';
  stderrLog(
    `full ${report.reference_most_accurate ? 'is' : 'is not'} the most accurate on these rows; beyond their noise it beats ${list(report.reference_significantly_better_than)}` +
      ` and trails ${list(report.significantly_better_than_reference)}`,
  );
  stderrLog(`wrote ${args.out}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`[models:score] error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
