/**
 * `npm run models:build -- --workload W`: trains the four reference variants of a workload with
 * the Python factory, assembles their ONNX graphs, verifies them against PyTorch, measures them
 * on onnxruntime-node and writes models/W/<role>/{encoder.onnx, head.onnx, card.json},
 * models/W/reference.json and reports/models-W.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isWorkloadName, WORKLOADS, workloadSplit, type WorkloadName } from '../data/workloads.js';
import { loadVariant, type VariantRuntime } from '../../variant-server/runtime.js';
import { rowsAnsweredRight } from './answers.js';
import { compareArrays, FP32_TOLERANCE, INT8_TOLERANCE, type Agreement } from './compare.js';
import { float32FromBase64, readFactoryOutput, readWeights, writeFactoryInput, type FactoryOutput, type LayerFiles } from './exchange.js';
import { measureLatency } from './latency.js';
import { buildVariantGraphs, IR_VERSION, OPSET, type LayerWeights } from './onnx-graph.js';
import { ROLES_IN_COST_ORDER, describeRole, type Role } from './roles.js';
import { FACTORY_SPECS } from './specs.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

interface Args {
  workload: WorkloadName;
  reuseTraining: boolean;
  iterations: number;
}

function parseArgs(argv: string[]): Args {
  let workload: string | undefined;
  let reuseTraining = false;
  let iterations = 2000;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--workload') workload = argv[++i];
    else if (arg.startsWith('--workload=')) workload = arg.slice('--workload='.length);
    else if (arg === '--reuse-training') reuseTraining = true;
    else if (arg === '--iterations') iterations = Number(argv[++i]);
    else throw new Error(`unknown argument "${arg}" (expected --workload W [--reuse-training] [--iterations N])`);
  }
  if (!workload) throw new Error(`--workload is required: one of ${WORKLOADS.join(', ')}`);
  if (!isWorkloadName(workload)) throw new Error(`--workload "${workload}" is unknown: use one of ${WORKLOADS.join(', ')}`);
  if (!Number.isInteger(iterations) || iterations < 100) throw new Error('--iterations must be an integer >= 100');
  return { workload, reuseTraining, iterations };
}

function log(message: string): void {
  process.stderr.write(`[models:build] ${message}\n`);
}

function checkPython(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `the model factory needs PyTorch under ${PYTHON}: apt-get install python3-torch libopenblas0-pthread ` +
        `(the committed models in models/ need no training toolchain)\n${probe.stderr ?? ''}`,
    );
  }
}

function runFactory(work: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(PYTHON, ['-u', join(ROOT, 'training/variants/factory.py'), work], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: '2' },
    });
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          const event = JSON.parse(line) as Record<string, unknown>;
          if (event.event === 'epoch') {
            log(
              `${event.role} epoch ${event.epoch}/${event.epochs} loss ${(event.loss as number).toFixed(4)} ` +
                `test accuracy ${((event.test_accuracy as number) * 100).toFixed(2)}% (${event.seconds} s)`,
            );
          } else log(`${event.event} ${JSON.stringify(event)}`);
        } catch {
          log(line);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`model factory exited with code ${code}`))));
  });
}

function layerWeights(work: string, layer: LayerFiles): LayerWeights {
  const f32 = (file: string) => {
    const bytes = readWeights(work, file);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  if (layer.kind === 'fp32') {
    return { kind: 'fp32', in: layer.in, out: layer.out, weight: f32(layer.weight), bias: f32(layer.bias) };
  }
  const q = readWeights(work, layer.weight);
  return {
    kind: 'int8',
    in: layer.in,
    out: layer.out,
    weight: new Int8Array(q.buffer.slice(q.byteOffset, q.byteOffset + q.byteLength)),
    scale: f32(layer.scale),
    bias: f32(layer.bias),
  };
}

function sha256(...parts: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

interface Verification {
  rows: number;
  tolerance: { atol: number; rtol: number };
  embedding: Agreement;
  logits: Agreement;
}

async function verify(runtime: VariantRuntime, factory: FactoryOutput, role: Role): Promise<Verification> {
  const rows = factory.reference_rows;
  const input = float32FromBase64(factory.reference_input);
  const reference = factory.roles[role].reference;
  const tolerance = role === 'quantized' ? INT8_TOLERANCE : FP32_TOLERANCE;
  // The int8 graph quantizes activations over the whole batch, as PyTorch's emulation did per row.
  const embedding = new Float32Array(rows * runtime.embeddingDim);
  const logits = new Float32Array(rows * runtime.classes);
  for (let r = 0; r < rows; r++) {
    const e = await runtime.encode(input.slice(r * runtime.inputDim, (r + 1) * runtime.inputDim), 1);
    embedding.set(e, r * runtime.embeddingDim);
    logits.set((await runtime.classify(e, 1)).logits, r * runtime.classes);
  }
  const result = {
    rows,
    tolerance,
    embedding: compareArrays(embedding, float32FromBase64(reference.embedding), tolerance),
    logits: compareArrays(logits, float32FromBase64(reference.logits), tolerance),
  };
  if (!result.embedding.withinTolerance || !result.logits.withinTolerance) {
    throw new Error(`${role}: ONNX outputs differ from PyTorch beyond tolerance: ${JSON.stringify(result)}`);
  }
  return result;
}

async function accuracy(runtime: VariantRuntime, features: Float32Array, labels: Int32Array, quantized: boolean): Promise<number> {
  // The quantized graph is served one request at a time, so it is scored one row at a time.
  const right = await rowsAnsweredRight(runtime, features, labels, quantized ? 1 : 256);
  return right.reduce((sum, value) => sum + value, 0) / labels.length;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const spec = FACTORY_SPECS[args.workload];
  const work = join(ROOT, '.cache/models', args.workload);
  const modelsDir = join(ROOT, 'models', args.workload);
  const started = Date.now();
  log(`workload ${args.workload}: generating the data split`);
  const split = workloadSplit(args.workload);
  if (args.reuseTraining && existsSync(join(work, 'factory.json'))) {
    log(`reusing the trained weights in ${work}`);
  } else {
    checkPython();
    writeFactoryInput(work, split, spec);
    log(`training with PyTorch (${split.train.labels.length} train / ${split.test.labels.length} test rows)`);
    await runFactory(work);
  }
  const factory = readFactoryOutput(work);

  const runtimes = {} as Record<Role, VariantRuntime>;
  const cards: Record<string, Record<string, unknown>> = {};
  for (const role of ROLES_IN_COST_ORDER) {
    const entry = factory.roles[role];
    const graphs = buildVariantGraphs(
      `${args.workload}.${role}`,
      entry.layers.map((layer) => layerWeights(work, layer)),
    );
    const dir = join(modelsDir, role);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'encoder.onnx'), graphs.encoder);
    writeFileSync(join(dir, 'head.onnx'), graphs.head);
    const runtime = await loadVariant(dir, { device: 'cpu' });
    runtimes[role] = runtime;
    const verification = await verify(runtime, factory, role);
    log(
      `${role}: ONNX matches PyTorch (max abs error: embedding ${verification.embedding.maxAbsError.toExponential(2)}, logits ${verification.logits.maxAbsError.toExponential(2)})`,
    );
    const onnxAccuracy = await accuracy(runtime, split.test.features, split.test.labels, role === 'quantized');
    log(`${role}: accuracy on the held-out split ${(onnxAccuracy * 100).toFixed(2)}%`);
    cards[role] = {
      workload: args.workload,
      role,
      description: describeRole(role, spec),
      dims: entry.dims,
      input_dim: runtime.inputDim,
      embedding_dim: runtime.embeddingDim,
      classes: runtime.classes,
      accuracy: onnxAccuracy,
      torch_accuracy: entry.torch_accuracy,
      test_rows: split.test.labels.length,
      bytes: graphs.encoder.byteLength + graphs.head.byteLength,
      sha256: sha256(graphs.encoder, graphs.head),
      files: {
        'encoder.onnx': { bytes: graphs.encoder.byteLength, sha256: sha256(graphs.encoder) },
        'head.onnx': { bytes: graphs.head.byteLength, sha256: sha256(graphs.head) },
      },
      verification,
      onnx: { opset: OPSET, ir_version: IR_VERSION },
      training: {
        library: `torch ${factory.torch}`,
        threads: factory.threads,
        spec: role === 'full' ? spec.full : role === 'quantized' ? spec.quantized : spec[role],
      },
    };
  }

  const pool = split.test.features.subarray(0, Math.min(split.test.labels.length, 2048) * split.train.dim);
  log(`measuring latency at batch 1 (${args.iterations} interleaved runs per variant)`);
  const batch1 = await measureLatency(runtimes, pool, split.train.dim, 1, args.iterations, (i) =>
    log(`  batch 1: ${i}/${args.iterations}`),
  );
  const batch16Iterations = Math.max(100, Math.floor(args.iterations / 4));
  log(`measuring latency at batch 16 (${batch16Iterations} runs)`);
  const batch16 = await measureLatency(runtimes, pool, split.train.dim, 16, batch16Iterations);

  const variants: Record<string, Record<string, unknown>> = {};
  for (const role of ROLES_IN_COST_ORDER) {
    const card = cards[role]!;
    Object.assign(card, {
      latency_ms_p50: batch1[role]!.p50,
      latency_ms_p99: batch1[role]!.p99,
      latency_batch16_ms_p50: batch16[role]!.p50,
      latency_batch16_ms_p99: batch16[role]!.p99,
      latency_setup: {
        runtime: 'onnxruntime-node',
        intra_op_threads: 1,
        execution_providers: runtimes[role].executionProviders,
        iterations: args.iterations,
        interleaved: true,
      },
    });
    writeFileSync(join(modelsDir, role, 'card.json'), `${JSON.stringify(card, null, 2)}\n`);
    variants[role] = {
      accuracy: card.accuracy,
      latency_ms_p50: card.latency_ms_p50,
      latency_ms_p99: card.latency_ms_p99,
      latency_batch16_ms_p50: card.latency_batch16_ms_p50,
      latency_batch16_ms_p99: card.latency_batch16_ms_p99,
      bytes: card.bytes,
      sha256: card.sha256,
      embedding_dim: card.embedding_dim,
    };
  }
  writeFileSync(
    join(modelsDir, 'reference.json'),
    `${JSON.stringify({
      workload: args.workload,
      note: "Verification batch: the first rows of the held-out split and PyTorch's outputs for each variant.",
      rows: factory.reference_rows,
      input: factory.reference_input,
      outputs: Object.fromEntries(ROLES_IN_COST_ORDER.map((role) => [role, factory.roles[role].reference])),
    })}\n`,
  );
  const checks = summarizeChecks(variants);
  const report = {
    workload: args.workload,
    generated_at: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown' },
    variants,
    checks,
  };
  mkdirSync(join(ROOT, 'reports'), { recursive: true });
  writeFileSync(join(ROOT, 'reports', `models-${args.workload}.json`), `${JSON.stringify(report, null, 2)}\n`);
  for (const runtime of Object.values(runtimes)) await runtime.close();
  printTable(args.workload, variants);
  log(`checks ${JSON.stringify(checks)}`);
  log(`wrote models/${args.workload}/ and reports/models-${args.workload}.json in ${report.seconds.toFixed(0)} s`);
}

function summarizeChecks(variants: Record<string, Record<string, unknown>>) {
  const accuracyOf = (role: string) => variants[role]!.accuracy as number;
  const p50Of = (role: string) => variants[role]!.latency_ms_p50 as number;
  const cheapest = [...ROLES_IN_COST_ORDER].sort((a, b) => p50Of(a) - p50Of(b))[0]!;
  return {
    full_most_accurate: ROLES_IN_COST_ORDER.every((role) => accuracyOf('full') >= accuracyOf(role)),
    full_minus_quantized_points: (accuracyOf('full') - accuracyOf('quantized')) * 100,
    latency_ratio_to_full: Object.fromEntries(ROLES_IN_COST_ORDER.map((role) => [role, p50Of(role) / p50Of('full')])),
    cheapest_variant: cheapest,
    cheapest_accuracy_gap_points: (accuracyOf('full') - accuracyOf(cheapest)) * 100,
  };
}

function printTable(workload: string, variants: Record<string, Record<string, unknown>>): void {
  const rows = Object.entries(variants).map(([role, v]) => ({
    role,
    accuracy: `${((v.accuracy as number) * 100).toFixed(2)}%`,
    'p50 ms': (v.latency_ms_p50 as number).toFixed(3),
    'p99 ms': (v.latency_ms_p99 as number).toFixed(3),
    'b16 p50 ms': (v.latency_batch16_ms_p50 as number).toFixed(3),
    'size KiB': ((v.bytes as number) / 1024).toFixed(0),
  }));
  process.stdout.write(`\n${workload}\n`);
  console.table(rows);
}

main().catch((error: unknown) => {
  process.stderr.write(`[models:build] error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
