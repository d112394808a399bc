// Helpers for the variant server tests: the test model, real input rows, a quiet logger, a JSON
// HTTP client, and the CLI (variant-server/main.ts) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import winston from 'winston';
import { ROOT } from '../../scripts/cluster/paths.js';
import { float32FromBase64 } from '../../training/variants/exchange.js';

/** Tiny and fast: 784 -> 32 -> 10, fp32. */
export const TEST_MODEL_DIR = path.join(ROOT, 'models', 'digits', 'distilled');
export const TEST_MODEL_NAME = 'digits-distilled';
export const TEST_INPUT_DIM = 784;

export const quietLogger = (): winston.Logger => winston.createLogger({ silent: true });

interface Reference {
  rows: number;
  input: string;
  outputs: Record<string, Record<string, string>>;
}

const readReference = (): Reference => JSON.parse(readFileSync(path.join(ROOT, 'models', 'digits', 'reference.json'), 'utf8')) as Reference;

/** The held-out rows that models/digits/reference.json stores as base64 little-endian float32. */
export function referenceRows(): { rows: number; data: Float32Array } {
  const reference = readReference();
  return { rows: reference.rows, data: float32FromBase64(reference.input) };
}

/** PyTorch's output for the reference rows, e.g. referenceOutput('distilled', 'logits'). */
export function referenceOutput(role: string, name: string): Float32Array {
  const encoded = readReference().outputs[role]?.[name];
  if (!encoded) throw new Error(`models/digits/reference.json has no ${role}.${name}`);
  return float32FromBase64(encoded);
}

export function row(data: Float32Array, r: number, width = TEST_INPUT_DIM): number[] {
  return Array.from(data.subarray(r * width, (r + 1) * width));
}

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export async function request<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const hasBody = init.body !== undefined || init.raw !== undefined;
  const res = await fetch(url, {
    method: init.method ?? (hasBody ? 'POST' : 'GET'),
    headers: { ...(hasBody ? { 'content-type': 'application/json' } : {}), ...init.headers },
    ...(hasBody ? { body: init.raw ?? JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

export interface InferTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

export interface InferBody {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: InferTensor[];
  error?: string;
}

export function inferBody(
  inputName: string,
  rows: number,
  data: ArrayLike<number>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const width = data.length / rows;
  return { inputs: [{ name: inputName, shape: [rows, width], datatype: 'FP32', data: Array.from(data) }], ...extra };
}

export function output(body: InferBody, name: string): InferTensor {
  const tensor = body.outputs.find((o) => o.name === name);
  if (!tensor) throw new Error(`response has no output "${name}": ${JSON.stringify(body).slice(0, 300)}`);
  return tensor;
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/**
 * Resolves once the server logs that it started; rejects if it exits first. `wrapper` runs it under
 * another command that execs node, e.g. ['taskset', '-c', '1'], so the child's pid stays node's.
 */
export async function spawnVariantServer(args: string[], env: Record<string, string> = {}, wrapper: string[] = []): Promise<ServerProcess> {
  const { child, logs, exited } = spawnCli(args, env, wrapper);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`variant server did not start within 30 s:\n${JSON.stringify(logs.slice(-5))}`)),
      30_000,
    );
    createInterface(child.stderr!).on('line', (line) => {
      const entry = parseLine(line);
      logs.push(entry);
      if (entry.message === 'variant server started') {
        clearTimeout(timer);
        resolve(entry.url as string);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`variant server exited with ${code}:\n${JSON.stringify(logs.slice(-5))}`));
    });
  });
  return { child, url, logs, exited };
}

/** Runs the CLI to completion: exit code and everything it wrote to stderr. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const { child, exited } = spawnCli(args, env);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await exited;
  return { code, stderr };
}

function spawnCli(
  args: string[],
  env: Record<string, string>,
  wrapper: string[] = [],
): { child: ChildProcess; logs: Record<string, unknown>[]; exited: Promise<number | null> } {
  const cleanEnv = { ...process.env };
  for (const key of [
    'MODEL_URI',
    'MODEL_NAME',
    'PORT',
    'HOST',
    'BATCHING',
    'BATCH_WINDOW_MS',
    'MAX_BATCH',
    'BODY_LIMIT_BYTES',
    'DEVICE',
    'LOG_LEVEL',
    'DRAIN_TIMEOUT_MS',
    'SHUTDOWN_DELAY_MS',
    'MAX_QUEUED',
  ]) {
    delete cleanEnv[key];
  }
  const command = [...wrapper, process.execPath, '--import', 'tsx', path.join(ROOT, 'variant-server', 'main.ts'), ...args];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...cleanEnv, ...env },
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, logs: [], exited };
}

function parseLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { message: line };
  }
}
