// npm run bench:variant [-- --model models/digits/full --concurrency 1,8,32 --seconds 3 --repeats 2]
// Throughput, latency and server CPU per request of one variant server (a child process, so its
// CPU time can be read from /proc) under 1, 8 and 32 concurrent keep-alive clients, with dynamic
// batching off and on. The compared runs are interleaved (off/on, then on/off) so drift on a shared
// machine hits both alike. On 2 cores the server is pinned to core 1 and this load generator to
// core 0 when taskset exists. Writes reports/bench-variant.json and reports/bench-variant.svg.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nearestRank } from '../common/stats.js';
import { ROOT } from '../scripts/cluster/paths.js';
import { loadVariant } from '../variant-server/runtime.js';
import { metricValue } from '../test/support/operator.js';
import { spawnVariantServer, type ServerProcess } from '../test/support/variant-server.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    concurrency: { type: 'string', default: '1,8,32' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '2' },
    'batch-window-ms': { type: 'string', default: '0' },
    'max-batch': { type: 'string', default: '32' },
  },
});
const say = (m: string): void => {
  process.stderr.write(`[bench:variant] ${m}\n`);
};
const positive = (flag: string, value: string, integer: boolean): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new Error(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${value}"`);
  return n;
};
const concurrencies = values.concurrency.split(',').map((c) => positive('concurrency', c, true));
const seconds = positive('seconds', values.seconds, false);
const warmupSeconds = Number(values.warmup);
const repeats = positive('repeats', values.repeats, true);
const batchWindowMs = values['batch-window-ms'];
const maxBatch = values['max-batch'];
const defaultModel = existsSync(path.join(ROOT, 'models', 'sessions-32', 'full', 'encoder.onnx'))
  ? 'models/sessions-32/full'
  : 'models/digits/full';
const modelArg = values.model ?? defaultModel;
const modelDir = path.resolve(ROOT, modelArg);

// Pinning: re-run this script on core 0 and start the servers on core 1.
const PINNED_ENV = 'VARIANT_BENCH_PINNED';
const tasksetOk = spawnSync('taskset', ['-c', '0', 'true']).status === 0 && os.cpus().length >= 2;
if (tasksetOk && process.env[PINNED_ENV] !== '1') {
  say('re-running the load generator pinned to core 0 (taskset -c 0)');
  const child = spawnSync(
    'taskset',
    ['-c', '0', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, [PINNED_ENV]: '1' },
    },
  );
  process.exit(child.status ?? 1);
}
if (!tasksetOk) say('taskset is missing or there is only one CPU: server and load generator are not pinned');
const serverWrapper = tasksetOk ? ['taskset', '-c', '1'] : [];

function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / 100) * 1e6;
}

const percentile = (sorted: Float64Array, p: number): number => nearestRank(sorted, p / 100);

const round = (n: number, digits = 3): number => Number(n.toFixed(digits));

interface Target {
  batching: boolean;
  server: ServerProcess;
  pid: number;
  infer: URL;
  metrics: string;
}

interface Sample {
  concurrency: number;
  batching: boolean;
  repeat: number;
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: Float64Array;
  serverCpuMicros: number;
  clientCpuMicros: number;
  runs: number;
  batchedRows: number;
}

function post(agent: http.Agent, url: URL, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function scrape(url: string): Promise<{ runs: number; rows: number }> {
  const text = await (await fetch(url)).text();
  return {
    runs: metricValue(text, 'inference_cascade_variant_batch_size_count', { graph: 'model' }),
    rows: metricValue(text, 'inference_cascade_variant_batch_size_sum', { graph: 'model' }),
  };
}

/** `concurrency` closed-loop clients, each sending its next request when the last one answered. */
async function load(
  target: Target,
  bodies: Buffer[],
  concurrency: number,
  durationMs: number,
  latencies?: number[],
): Promise<{ requests: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const end = performance.now() + durationMs;
  let requests = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      for (let i = client; performance.now() < end; i += concurrency) {
        const started = performance.now();
        const status = await post(agent, target.infer, bodies[i % bodies.length]!);
        latencies?.push(performance.now() - started);
        requests += 1;
        if (status !== 200) errors += 1;
      }
    }),
  );
  agent.destroy();
  return { requests, errors };
}

async function measure(target: Target, bodies: Buffer[], concurrency: number, repeat: number): Promise<Sample> {
  if (warmupSeconds > 0) await load(target, bodies, concurrency, warmupSeconds * 1000);
  const before = await scrape(target.metrics);
  const latencies: number[] = [];
  const cpuBefore = cpuMicros(target.pid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const { requests, errors } = await load(target, bodies, concurrency, seconds * 1000, latencies);
  const elapsed = (performance.now() - started) / 1000;
  const serverCpuMicros = cpuMicros(target.pid) - cpuBefore;
  const client = process.cpuUsage(clientBefore);
  const after = await scrape(target.metrics);
  return {
    concurrency,
    batching: target.batching,
    repeat,
    requests,
    errors,
    seconds: elapsed,
    latenciesMs: Float64Array.from(latencies).sort(),
    serverCpuMicros,
    clientCpuMicros: client.user + client.system,
    runs: after.runs - before.runs,
    batchedRows: after.rows - before.rows,
  };
}

function summarize(samples: Sample[]) {
  const requests = samples.reduce((s, x) => s + x.requests, 0);
  const secondsTotal = samples.reduce((s, x) => s + x.seconds, 0);
  const latencies = new Float64Array(samples.reduce((s, x) => s + x.latenciesMs.length, 0));
  let offset = 0;
  for (const s of samples) {
    latencies.set(s.latenciesMs, offset);
    offset += s.latenciesMs.length;
  }
  latencies.sort();
  const runs = samples.reduce((s, x) => s + x.runs, 0);
  return {
    concurrency: samples[0]!.concurrency,
    batching: samples[0]!.batching,
    rps: round(requests / secondsTotal, 1),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    cpu_us_per_request: round(samples.reduce((s, x) => s + x.serverCpuMicros, 0) / requests, 1),
    requests,
    errors: samples.reduce((s, x) => s + x.errors, 0),
    mean_batch_rows: round(runs > 0 ? samples.reduce((s, x) => s + x.batchedRows, 0) / runs : 0, 2),
    client_cpu_us_per_request: round(samples.reduce((s, x) => s + x.clientCpuMicros, 0) / requests, 1),
    seconds: round(secondsTotal, 2),
    repeats: samples.length,
  };
}

type RunSummary = ReturnType<typeof summarize>;

/** How far batching moves a row's outputs: 32 rows as one batch vs one row at a time, in-process. */
async function batchingNumerics(dir: string, rows = 32) {
  const runtime = await loadVariant(dir, { device: 'cpu' });
  try {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const data = Float32Array.from({ length: rows * runtime.inputDim }, random);
    const batched = (await runtime.classify(await runtime.encode(data, rows), rows)).probabilities;
    let maxAbs = 0;
    let disagreements = 0;
    const c = runtime.classes;
    for (let r = 0; r < rows; r++) {
      const single = (await runtime.classify(await runtime.encode(data.slice(r * runtime.inputDim, (r + 1) * runtime.inputDim), 1), 1))
        .probabilities;
      let argB = 0;
      let argS = 0;
      for (let j = 0; j < c; j++) {
        maxAbs = Math.max(maxAbs, Math.abs(single[j]! - batched[r * c + j]!));
        if (batched[r * c + j]! > batched[r * c + argB]!) argB = j;
        if (single[j]! > single[argS]!) argS = j;
      }
      if (argB !== argS) disagreements += 1;
    }
    return { model: path.relative(ROOT, dir), rows, max_abs_probability_diff: maxAbs, prediction_disagreements: disagreements };
  } finally {
    await runtime.close();
  }
}

function svg(runs: RunSummary[], title: string): string {
  const W = 920;
  const H = 380;
  const panel = { w: 380, h: 250, top: 70 };
  const lefts = [70, 530];
  const xs = [...new Set(runs.map((r) => r.concurrency))].sort((a, b) => a - b);
  const colors = { off: '#1f77b4', on: '#ff7f0e' };
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  const metrics: Array<{ key: 'rps' | 'p99_ms'; label: string }> = [
    { key: 'rps', label: 'requests per second' },
    { key: 'p99_ms', label: 'p99 latency (ms)' },
  ];
  metrics.forEach(({ key, label }, i) => {
    const left = lefts[i]!;
    const max = Math.max(...runs.map((r) => r[key])) * 1.1 || 1;
    const x = (c: number) => round(left + (xs.length === 1 ? panel.w / 2 : (xs.indexOf(c) / (xs.length - 1)) * (panel.w - 40) + 20), 1);
    const y = (v: number) => round(panel.top + panel.h - (v / max) * panel.h, 1);
    parts.push(`<text x="${left + panel.w / 2}" y="${panel.top - 14}" text-anchor="middle" font-size="13">${label}</text>`);
    parts.push(`<line x1="${left}" y1="${panel.top + panel.h}" x2="${left + panel.w}" y2="${panel.top + panel.h}" stroke="black"/>`);
    parts.push(`<line x1="${left}" y1="${panel.top}" x2="${left}" y2="${panel.top + panel.h}" stroke="black"/>`);
    for (let t = 0; t <= 4; t++) {
      const v = (max / 4) * t;
      parts.push(`<line x1="${left - 4}" y1="${y(v)}" x2="${left + panel.w}" y2="${y(v)}" stroke="#ddd"/>`);
      parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v === 0 ? 0 : v >= 100 ? Math.round(v) : v.toFixed(1)}</text>`);
    }
    for (const c of xs) parts.push(`<text x="${x(c)}" y="${panel.top + panel.h + 16}" text-anchor="middle">${c}</text>`);
    parts.push(`<text x="${left + panel.w / 2}" y="${panel.top + panel.h + 34}" text-anchor="middle">concurrent clients</text>`);
    for (const batching of [false, true]) {
      const color = batching ? colors.on : colors.off;
      const points = runs.filter((r) => r.batching === batching).sort((a, b) => a.concurrency - b.concurrency);
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${x(p.concurrency)},${y(p[key])}`).join(' ')}"/>`,
      );
      for (const p of points) {
        parts.push(`<circle cx="${x(p.concurrency)}" cy="${y(p[key])}" r="3.5" fill="${color}"/>`);
        parts.push(
          `<text x="${x(p.concurrency)}" y="${y(p[key]) - 8}" text-anchor="middle" fill="${color}" font-size="10">${p[key] >= 100 ? Math.round(p[key]) : p[key].toFixed(2)}</text>`,
        );
      }
    }
  });
  parts.push(
    `<rect x="${W / 2 - 150}" y="${H - 24}" width="12" height="12" fill="${colors.off}"/><text x="${W / 2 - 134}" y="${H - 14}">batching off</text>`,
  );
  parts.push(
    `<rect x="${W / 2 + 20}" y="${H - 24}" width="12" height="12" fill="${colors.on}"/><text x="${W / 2 + 36}" y="${H - 14}">batching on</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// ---- main ----
say(
  `model ${path.relative(ROOT, modelDir)}; concurrency ${concurrencies.join(', ')}; ${seconds} s per run after ${warmupSeconds} s warm-up; ${repeats} repeat(s)`,
);
const common = ['--model', modelDir, '--port', '0', '--host', '127.0.0.1', '--device', 'cpu'];
const targets: Target[] = [];
for (const batching of [false, true]) {
  const args = batching ? [...common, '--batching', '--batch-window-ms', batchWindowMs, '--max-batch', maxBatch] : common;
  const server = await spawnVariantServer(args, {}, serverWrapper);
  const started = server.logs.find((l) => l.message === 'variant server started')!;
  targets.push({
    batching,
    server,
    pid: server.child.pid!,
    infer: new URL(`${server.url}/v2/models/${String(started.model)}/infer`),
    metrics: `${server.url}/metrics`,
  });
  say(`server with batching ${batching ? 'on' : 'off'}: ${server.url} (pid ${server.child.pid})`);
}
const started = targets[0]!.server.logs.find((l) => l.message === 'variant server started')!;
const inputDim = Number(started.inputDim);

// One-row requests from a fixed pool, asking for what a router needs (not the embedding).
let seed = 42;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const bodies = Array.from({ length: 64 }, (_, i) =>
  Buffer.from(
    JSON.stringify({
      id: `bench-${i}`,
      inputs: [
        {
          name: 'features',
          shape: [1, inputDim],
          datatype: 'FP32',
          data: Array.from({ length: inputDim }, () => Number(random().toFixed(4))),
        },
      ],
      outputs: [{ name: 'prediction' }, { name: 'probabilities' }],
    }),
  ),
);

const samples: Sample[] = [];
try {
  for (const concurrency of concurrencies) {
    for (let repeat = 0; repeat < repeats; repeat++) {
      const order = repeat % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const sample = await measure(target, bodies, concurrency, repeat);
        samples.push(sample);
        say(
          `c=${concurrency} batching=${target.batching ? 'on ' : 'off'} repeat ${repeat + 1}/${repeats}: ${(sample.requests / sample.seconds).toFixed(0)} rps, p50 ${percentile(sample.latenciesMs, 50).toFixed(2)} ms, p99 ${percentile(sample.latenciesMs, 99).toFixed(2)} ms, server CPU ${(sample.serverCpuMicros / sample.requests).toFixed(0)} us/req, mean batch ${(sample.runs ? sample.batchedRows / sample.runs : 0).toFixed(2)} rows${sample.errors ? `, ${sample.errors} ERRORS` : ''}`,
        );
      }
    }
  }
} finally {
  for (const target of targets) {
    target.server.child.kill('SIGTERM');
    await target.server.exited;
  }
}

const runs: RunSummary[] = [];
for (const concurrency of concurrencies) {
  for (const batching of [false, true])
    runs.push(summarize(samples.filter((s) => s.concurrency === concurrency && s.batching === batching)));
}

say('measuring how batching changes outputs (32 rows batched vs one at a time)');
const numerics = [];
for (const dir of [modelDir, path.join(path.dirname(modelDir), 'quantized')]) {
  if (existsSync(path.join(dir, 'encoder.onnx'))) numerics.push(await batchingNumerics(dir));
}

const cardPath = path.join(modelDir, 'card.json');
const card = existsSync(cardPath) ? (JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>) : {};
const report = {
  model: {
    path: path.relative(ROOT, modelDir),
    name: started.model,
    version: started.version,
    dims: card.dims,
    input_dim: inputDim,
    execution_providers: started.executionProviders,
  },
  runs,
  samples: samples.map((s) => ({
    concurrency: s.concurrency,
    batching: s.batching,
    repeat: s.repeat,
    requests: s.requests,
    errors: s.errors,
    seconds: round(s.seconds, 2),
    rps: round(s.requests / s.seconds, 1),
    p50_ms: round(percentile(s.latenciesMs, 50)),
    p99_ms: round(percentile(s.latenciesMs, 99)),
    cpu_us_per_request: round(s.serverCpuMicros / s.requests, 1),
    mean_batch_rows: round(s.runs ? s.batchedRows / s.runs : 0, 2),
  })),
  batching_numerics: numerics,
  setup: {
    request:
      'POST /v2/models/{name}/infer, one row per request, outputs prediction and probabilities, closed loop over keep-alive node:http connections',
    seconds_per_run: seconds,
    warmup_seconds: warmupSeconds,
    repeats,
    order: 'interleaved: off then on, then on then off',
    batching: { batch_window_ms: Number(batchWindowMs), max_batch: Number(maxBatch) },
    pinning: tasksetOk ? { server_cores: '1', load_generator_cores: '0' } : 'none (taskset missing or a single CPU)',
    cpu_us_per_request: 'server process utime+stime from /proc/<pid>/stat (10 ms ticks) over the measured seconds, divided by requests',
    intra_op_threads: 1,
  },
  machine: {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  },
  note: 'The load generator shares the machine with the server; with 2 cores it gets one of them, so at high concurrency it can be the limit. client_cpu_us_per_request shows how busy it was.',
};
mkdirSync(path.join(ROOT, 'reports'), { recursive: true });
writeFileSync(path.join(ROOT, 'reports', 'bench-variant.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(
  path.join(ROOT, 'reports', 'bench-variant.svg'),
  svg(runs, `variant server ${String(started.model)} (${path.relative(ROOT, modelDir)}): one-row OIP infer requests`),
);
for (const r of runs)
  say(
    `c=${r.concurrency} batching=${r.batching ? 'on ' : 'off'}: ${r.rps} rps, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.cpu_us_per_request} us CPU/req, mean batch ${r.mean_batch_rows}`,
  );
for (const n of numerics)
  say(
    `batching numerics ${n.model}: max |dp| ${n.max_abs_probability_diff.toExponential(2)}, ${n.prediction_disagreements}/${n.rows} predictions differ`,
  );
say('wrote reports/bench-variant.json and reports/bench-variant.svg');
