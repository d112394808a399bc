// Fuzzing the JSON endpoints of the real router and a real variant server (child processes started
// the way `npm run demo` starts them): thousands of hostile requests from a seeded generator
// (test/support/fuzz.ts) never crash a process and never get a 5xx; each gets either a 200 with a
// well-formed answer or a 4xx whose {"error": "..."} names the field or the reason.
//
// FUZZ_SEED=<n> repeats a run, FUZZ_CASE=<i> runs one case of it, FUZZ_CASES=<n> sets how many.
import { strict as assert } from 'node:assert';
import { randomInt } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade, type LocalCascade, type LocalProcess } from '../../scripts/standalone/local-cascade.js';
import { classify, describeCase, generateCase, type Endpoint, type FuzzCase } from '../support/fuzz.js';
import { runPool, sendRaw } from '../support/raw-http.js';

const CASCADE_FILE = path.join(ROOT, 'manifests', 'samples', 'cascade.yaml');
const BODY_LIMIT = 256 * 1024;
const CASES = Number(process.env.FUZZ_CASES ?? 4000);
const CONCURRENCY = 4;
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);

interface Metadata {
  name: string;
  versions: string[];
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string }[];
}

async function inferEndpoints(server: string, url: string, models: string[], router: boolean): Promise<Endpoint[]> {
  const endpoints: Endpoint[] = [];
  for (const model of models) {
    const meta = (await (await fetch(`${url}/v2/models/${model}`)).json()) as Metadata;
    const base = {
      server, kind: 'infer' as const, input: meta.inputs[0]!.name, width: meta.inputs[0]!.shape[1]!,
      outputs: meta.outputs.map((o) => o.name), router,
    };
    endpoints.push({ ...base, path: `/v2/models/${model}/infer` }, { ...base, path: `/v2/models/${model}/versions/${meta.versions[0]}/infer` });
  }
  return endpoints;
}

describe('fuzzing the JSON endpoints (router and variant server as real processes)', function () {
  this.timeout(240_000);
  let cascade: LocalCascade;
  let targets: Record<string, LocalProcess>;
  let endpoints: Endpoint[];

  before(async () => {
    // The variants' limit is 8x the router's, as with the defaults: the router forwards values
    // re-encoded from FP32 (0.1 as 0.10000000149011612), up to ~5x the bytes the client sent.
    // A 2 s latency SLA: this is about input, and on a busy 2-core machine the sample's 40 ms
    // p99 would turn slow answers into timeouts and a spent retry budget (503) for valid requests.
    cascade = await startLocalCascade({
      cascadeFile: CASCADE_FILE,
      adjust: (config) => {
        config.sla = { ...config.sla, p99LatencyMs: 2000 };
      },
      routerFlags: ['--body-limit-bytes', String(BODY_LIMIT)],
      variantFlags: ['--body-limit-bytes', String(8 * BODY_LIMIT)],
    });
    const variant = cascade.variants.distilled;
    const variantModel = cascade.config.variants.find((v) => v.role === 'distilled')!.name;
    targets = { router: cascade.router, variant };
    const width = cascade.config.inputDim;
    endpoints = [
      { server: 'router', kind: 'predict', path: '/predict', input: 'features', width, outputs: [], router: true },
      ...(await inferEndpoints('router', cascade.router.url, [cascade.config.cascade.name], true)),
      { server: 'variant', kind: 'predict', path: '/predict', input: 'features', width, outputs: [], router: false },
      ...(await inferEndpoints('variant', variant.url, [variantModel, `${variantModel}.encoder`, `${variantModel}.head`], false)),
    ];
  });
  after(async () => {
    await cascade?.stop();
  });

  it('answers every fuzzed request with a well-formed 200 or a 4xx naming the problem, and no process dies', async () => {
    const only = process.env.FUZZ_CASE !== undefined ? Number(process.env.FUZZ_CASE) : undefined;
    const indices = only !== undefined ? [only] : Array.from({ length: CASES }, (_, i) => i);
    process.stderr.write(`      fuzz seed ${SEED} (FUZZ_SEED=${SEED} repeats this run), ${indices.length} cases\n`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const statuses = new Map<string, number>();
    const failures: { fuzzCase: FuzzCase; why: string; reply: string }[] = [];
    const started = Date.now();
    try {
      await runPool(indices.length, CONCURRENCY, async (i) => {
        let fuzzCase: FuzzCase;
        try {
          fuzzCase = generateCase(SEED, indices[i]!, endpoints);
        } catch (error) {
          throw new Error(`the fuzzer itself failed on FUZZ_SEED=${SEED} FUZZ_CASE=${indices[i]}: ${(error as Error).stack}`);
        }
        let why: string | undefined;
        let reply = '';
        try {
          const answer = await sendRaw(targets[fuzzCase.endpoint.server]!.url, fuzzCase.request, agent);
          const key = `${fuzzCase.endpoint.server} ${answer.status}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          why = classify(fuzzCase, answer);
          reply = `${answer.status} ${answer.text.slice(0, 400)}`;
        } catch (error) {
          why = `no reply: ${(error as Error).message}`;
        }
        if (why) failures.push({ fuzzCase, why, reply });
      });
    } finally {
      agent.destroy();
    }
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`      ${indices.length} cases in ${seconds.toFixed(1)} s; ${[...statuses].sort().map(([k, n]) => `${k}: ${n}`).join(', ')}\n`);

    for (const [name, target] of Object.entries(targets)) {
      assert.equal(target.child.exitCode, null, `the ${name} process exited (code ${target.child.exitCode}, signal ${target.child.signalCode}); seed ${SEED}`);
      const live = await fetch(`${target.url}/v2/health/live`);
      assert.equal(live.status, 200, `${name} /v2/health/live after the run`);
    }
    for (const role of ['quantized', 'pruned', 'full'] as const) assert.equal(cascade.variants[role].child.exitCode, null, `variant ${role} exited`);

    if (failures.length > 0) {
      failures.sort((a, b) => a.fuzzCase.index - b.fuzzCase.index);
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'fuzz-')), 'failures.json');
      writeFileSync(file, JSON.stringify(failures.map(({ fuzzCase, why, reply }) => ({
        seed: SEED, case: fuzzCase.index, why, reply, endpoint: fuzzCase.endpoint.server, path: fuzzCase.request.path,
        contentType: fuzzCase.request.contentType ?? null, headers: fuzzCase.request.headers, chunked: fuzzCase.request.chunked ?? false,
        mutations: fuzzCase.mutations, bodyBase64: Buffer.from(fuzzCase.request.body ?? '').toString('base64'),
      })), null, 2));
      const shown = failures.slice(0, 8).map(({ fuzzCase, why, reply }) =>
        `  case ${fuzzCase.index} (FUZZ_SEED=${SEED} FUZZ_CASE=${fuzzCase.index}): ${why}\n        ${describeCase(fuzzCase)}\n        reply: ${reply}`);
      assert.fail(`${failures.length} of ${indices.length} fuzzed requests broke the contract (seed ${SEED}; all inputs in ${file}):\n${shown.join('\n')}`);
    }
  });
});
