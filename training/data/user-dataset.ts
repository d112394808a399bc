/**
 * A user's own labelled data: CSV (header row, one `label` column, every other column a numeric
 * feature) or JSONL (one `{"features": [...], "label": n}` object per line). Every bad row is an
 * error naming the file, the line and the field, never a silent skip.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { Dataset } from './dataset.js';

export class DatasetError extends Error {
  override name = 'DatasetError';
}

export interface LoadOptions {
  labelColumn?: string;
  /** Number of classes; defaults to the largest label + 1. */
  classes?: number;
}

interface Rows {
  dim: number;
  features: number[];
  labels: number[];
}

/** CSV cells are text and are parsed; JSON values must already be numbers. */
function parseLabel(raw: unknown, where: string, fromText = false): number {
  const value = fromText && typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new DatasetError(`${where}: field "label" must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function parseFeature(raw: unknown, where: string, field: string, fromText = false): number {
  const value = fromText && typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new DatasetError(`${where}: field "${field}" must be a finite number, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function parseCsv(text: string, file: string, labelColumn: string): Rows {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((cell) => cell.trim());
  const labelIndex = header.indexOf(labelColumn);
  if (labelIndex < 0) throw new DatasetError(`${file}:1: header has no "${labelColumn}" column`);
  if (header.length < 2) throw new DatasetError(`${file}:1: header needs at least one feature column`);
  const rows: Rows = { dim: header.length - 1, features: [], labels: [] };
  lines.slice(1).forEach((line, offset) => {
    if (line.trim() === '') return;
    const where = `${file}:${offset + 2}`;
    const cells = line.split(',');
    if (cells.length !== header.length) {
      throw new DatasetError(`${where}: expected ${header.length} columns, got ${cells.length}`);
    }
    cells.forEach((cell, column) => {
      if (column === labelIndex) rows.labels.push(parseLabel(cell, where, true));
      else rows.features.push(parseFeature(cell, where, header[column]!, true));
    });
  });
  return rows;
}

function parseJsonl(text: string, file: string): Rows {
  const rows: Rows = { dim: -1, features: [], labels: [] };
  text.split(/\r?\n/).forEach((line, offset) => {
    if (line.trim() === '') return;
    const where = `${file}:${offset + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new DatasetError(`${where}: not valid JSON (${(error as Error).message})`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new DatasetError(`${where}: expected an object with "features" and "label"`);
    }
    const { features, label } = record as { features?: unknown; label?: unknown };
    if (!Array.isArray(features) || features.length === 0) {
      throw new DatasetError(`${where}: field "features" must be a non-empty array of numbers`);
    }
    if (rows.dim < 0) rows.dim = features.length;
    if (features.length !== rows.dim) {
      throw new DatasetError(`${where}: field "features" has ${features.length} values, expected ${rows.dim}`);
    }
    features.forEach((value, i) => rows.features.push(parseFeature(value, where, `features[${i}]`)));
    rows.labels.push(parseLabel(label, where));
  });
  return rows;
}

export function parseUserDataset(text: string, file: string, options: LoadOptions = {}): Dataset {
  const kind = extname(file).toLowerCase();
  let rows: Rows;
  if (kind === '.csv') rows = parseCsv(text, file, options.labelColumn ?? 'label');
  else if (kind === '.jsonl' || kind === '.ndjson') rows = parseJsonl(text, file);
  else throw new DatasetError(`${file}: unsupported extension "${kind}" (use .csv or .jsonl)`);
  if (rows.labels.length === 0) throw new DatasetError(`${file}: no data rows`);
  // A loop, not Math.max(...labels): spreading a million labels overflows the call stack.
  const largest = rows.labels.reduce((most, label) => (label > most ? label : most), 0);
  const classes = options.classes ?? largest + 1;
  if (largest >= classes) {
    throw new DatasetError(`${file}: label ${largest} is out of range for ${classes} classes`);
  }
  if (classes < 2) throw new DatasetError(`${file}: needs at least 2 classes, found labels 0..${largest}`);
  return {
    name: basename(file, kind),
    dim: rows.dim,
    classes,
    features: Float32Array.from(rows.features),
    labels: Int32Array.from(rows.labels),
  };
}

export function loadUserDataset(file: string, options: LoadOptions = {}): Dataset {
  return parseUserDataset(readFileSync(file, 'utf8'), file, options);
}
