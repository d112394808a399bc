// Bodies over the limit, 10,000 times, against the real router and a real variant server (child
// processes started the way `npm run demo` starts them): every one is answered 413 with a JSON
// error naming the limit, and the process's memory stays flat: its live memory after a garbage
// collection (read through the inspector) and its resident set as the kernel counts it.
import { strict as assert } from 'node:assert';
import http from 'node:http';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade, type LocalCascade, type LocalProcess } from '../../scripts/standalone/local-cascade.js';
import { inspectorUrl, memoryAfterGc, mib, MiB, residentBytes, runPool, sendRaw, type MemoryAfterGc, type RawRequest } from '../support/raw-http.js';

const CASCADE_FILE = path.join(ROOT, 'manifests', 'samples', 'cascade.yaml');
const BODY_LIMIT = 4096;
const WARM_UP = 3_000;
const REQUESTS = 10_000;
const CONCURRENCY = 8;
/**
 * Growth allowed from after the warm-up to after the 10,000 requests, both read right after a full
 * garbage collection. Measured on a 2-core machine over 4 runs: live memory (heap + external)
 * -0.4 to +0.3 MiB, RSS -2.4 to +2.1 MiB (router ~230 MiB, variant server ~120 MiB). Keeping only
 * each refused body (4 KiB) would add 40 MiB; retaining even ~80 bytes per request measured +0.7
 * MiB live, and anything that holds a request, its socket or a listener costs far more. Live
 * memory is the leak detector; RSS also moves with allocator fragmentation (+9.4 MiB once with
 * other tests running), so its bound, 7% of the router's RSS, only catches gross growth.
 */
const MAX_LIVE_GROWTH = 2 * MiB;
const MAX_RSS_GROWTH = 16 * MiB;

/** A valid JSON body of limit + 1 to limit + 64 bytes. */
function overLimitBody(index: number): string {
  const prefix = '{"features":[[0.5]],"pad":"';
  const suffix = '"}';
  const size = BODY_LIMIT + 1 + (index % 64);
  return `${prefix}${'x'.repeat(size - prefix.length - suffix.length)}${suffix}`;
}

/** Half the bodies with a Content-Length (refused from the header), half chunked (refused once the limit is crossed). */
function overLimitRequest(paths: string[], index: number): RawRequest {
  return { path: paths[index % paths.length]!, contentType: 'application/json', body: overLimitBody(index), chunked: index % 2 === 1 };
}

const live = (m: MemoryAfterGc) => m.heapUsed + m.external;

async function hammer(target: LocalProcess, logFile: string, paths: string[]): Promise<void> {
  const pid = target.child.pid!;
  const inspector = inspectorUrl(logFile);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const check = async (index: number) => {
    const request = overLimitRequest(paths, index);
    const reply = await sendRaw(target.url, request, agent);
    const error = (reply.json as { error?: unknown } | undefined)?.error;
    if (reply.status !== 413 || typeof error !== 'string' || !error.includes(`limit of ${BODY_LIMIT} bytes`)) {
      assert.fail(`request ${index} (${request.chunked ? 'chunked' : 'content-length'} ${request.path}): ${reply.status} ${reply.text.slice(0, 300)}`);
    }
  };
  try {
    await runPool(WARM_UP, CONCURRENCY, check);
    const before = await memoryAfterGc(inspector);
    const rssBefore = residentBytes(pid);
    const started = Date.now();
    const trace: string[] = [];
    for (let done = 0; done < REQUESTS; done += 2_500) {
      await runPool(2_500, CONCURRENCY, (i) => check(WARM_UP + done + i));
      trace.push(mib(residentBytes(pid)));
    }
    const seconds = (Date.now() - started) / 1000;
    const after = await memoryAfterGc(inspector);
    const rssAfter = residentBytes(pid);
    assert.equal(target.child.exitCode, null, `${target.name} exited`);
    const liveGrowth = live(after) - live(before);
    const rssGrowth = rssAfter - rssBefore;
    const sign = (n: number) => (n >= 0 ? '+' : '');
    process.stderr.write(
      `      ${target.name}: ${REQUESTS} x 413 in ${seconds.toFixed(1)} s; live after GC ${mib(live(before))} -> ${mib(live(after))} (${sign(liveGrowth)}${mib(liveGrowth)}); ` +
        `RSS ${mib(rssBefore)} -> ${mib(rssAfter)} (${sign(rssGrowth)}${mib(rssGrowth)}; every 2,500: ${trace.join(', ')})\n`,
    );
    assert.ok(liveGrowth < MAX_LIVE_GROWTH, `${target.name}: live memory after GC grew by ${mib(liveGrowth)} over ${REQUESTS} refused bodies; bound ${mib(MAX_LIVE_GROWTH)}`);
    assert.ok(rssGrowth < MAX_RSS_GROWTH, `${target.name}: RSS grew by ${mib(rssGrowth)} (${mib(rssBefore)} -> ${mib(rssAfter)}) over ${REQUESTS} refused bodies; bound ${mib(MAX_RSS_GROWTH)}`);
  } finally {
    agent.destroy();
  }
}

describe('bodies over the limit (router and variant server as real processes)', function () {
  this.timeout(180_000);
  let cascade: LocalCascade;
  // Where startLocalCascade keeps its logs by default; the inspector's URL is read from them.
  const workDir = path.join(ROOT, '.cache', 'local-cascade', `body-limit-${process.pid}-${Date.now()}`);

  before(async () => {
    // RSS is read from /proc: Linux only, like the product's images.
    const limit = ['--body-limit-bytes', String(BODY_LIMIT)];
    cascade = await startLocalCascade({ cascadeFile: CASCADE_FILE, workDir, routerFlags: limit, variantFlags: limit, nodeFlags: ['--inspect=127.0.0.1:0'] });
  });
  after(async () => {
    await cascade?.stop();
  });

  it(`router: ${REQUESTS} bodies over the limit all get 413 naming the limit; live memory grows < ${mib(MAX_LIVE_GROWTH)}, RSS < ${mib(MAX_RSS_GROWTH)}`, async () => {
    await hammer(cascade.router, path.join(workDir, 'router.log'), ['/predict', `/v2/models/${cascade.config.cascade.name}/infer`]);
    assert.equal((await fetch(`${cascade.router.url}/v2/health/live`)).status, 200);
  });

  it(`variant server: ${REQUESTS} bodies over the limit all get 413 naming the limit; live memory grows < ${mib(MAX_LIVE_GROWTH)}, RSS < ${mib(MAX_RSS_GROWTH)}`, async () => {
    const variant = cascade.variants.distilled;
    const name = cascade.config.variants.find((v) => v.role === 'distilled')!.name;
    await hammer(variant, path.join(workDir, `${variant.name}.log`), ['/predict', `/v2/models/${name}/infer`]);
    assert.equal((await fetch(`${variant.url}/v2/health/live`)).status, 200);
  });
});
