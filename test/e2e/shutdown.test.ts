// SIGTERM under load, for the router and a variant server as real processes: readiness fails
// first while requests are still served, requests in flight when the listener closes finish, no
// request fails, and the process exits 0 within its grace period.
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade, type LocalCascade } from '../../scripts/standalone/local-cascade.js';
import { sessionStream, type SessionRequest } from '../../training/data/sessions32.js';
import { startSlowRequest } from '../support/slow-request.js';
import { inferBody, referenceRows, spawnVariantServer, TEST_INPUT_DIM, TEST_MODEL_DIR, TEST_MODEL_NAME } from '../support/variant-server.js';

const SHUTDOWN_DELAY_MS = 2000;
const DRAIN_TIMEOUT_MS = 5000;
/** The grace period these tests give: the delay, the drain, and a second for the process to exit. */
const GRACE_MS = SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS + 1000;
const CLIENTS = 4;

interface ShutdownRun {
  outcomes: (number | string)[];
  /** What readiness answered once it stopped answering 200: a 503 proves the listener was still open. */
  firstUnready: number | string;
  unreadyAfterMs: number;
  stoppedServingAfterMs: number;
  exitCode: number | null;
  exitedAfterMs: number;
  slow: { status: number };
}

async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Keeps `CLIENTS` clients sending, signals SIGTERM, and stops the clients a while after readiness
 * fails, as endpoints would stop routing to the pod. A slow request is in flight throughout and
 * finishes only once the server has stopped taking new requests.
 */
async function sigtermUnderLoad(options: {
  child: ChildProcess;
  readyUrl: string;
  send: (dispatcher: Agent) => Promise<number>;
  slow: { finish(): Promise<{ status: number }> };
  /** Whether the server no longer takes new requests (its listener closed, or it refuses them). */
  stoppedServing: () => Promise<boolean>;
}): Promise<ShutdownRun> {
  const dispatcher = new Agent({ connections: CLIENTS, keepAliveTimeout: 30_000 });
  const outcomes: (number | string)[] = [];
  let sending = true;
  const clients = Array.from({ length: CLIENTS }, async () => {
    while (sending) outcomes.push(await options.send(dispatcher).catch((error: Error) => `${error.name}: ${error.message}`));
  });
  await sleep(500);
  const exited = exitOf(options.child);
  const signalledAt = performance.now();
  options.child.kill('SIGTERM');
  let firstUnready: number | string = 200;
  while (firstUnready === 200) {
    firstUnready = await fetch(options.readyUrl).then((r) => r.status, (error: Error) => error.message);
    if (firstUnready === 200) await sleep(5);
  }
  const unreadyAfterMs = performance.now() - signalledAt;
  await sleep(SHUTDOWN_DELAY_MS / 2);
  sending = false;
  await Promise.all(clients);
  while (!(await options.stoppedServing())) await sleep(10);
  const stoppedServingAfterMs = performance.now() - signalledAt;
  const slow = await options.slow.finish();
  const exitCode = await exited;
  const exitedAfterMs = performance.now() - signalledAt;
  await dispatcher.close();
  return { outcomes, firstUnready, unreadyAfterMs, stoppedServingAfterMs, exitCode, exitedAfterMs, slow };
}

function assertGraceful(run: ShutdownRun): void {
  const failed = run.outcomes.filter((o) => o !== 200);
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${run.outcomes.length} requests failed`);
  assert.ok(run.outcomes.length >= 50, `only ${run.outcomes.length} requests were sent`);
  assert.equal(run.firstUnready, 503, 'readiness fails with 503 while the listener is still open');
  assert.ok(run.unreadyAfterMs < SHUTDOWN_DELAY_MS / 2, `readiness failed ${run.unreadyAfterMs.toFixed(0)} ms after SIGTERM`);
  assert.ok(run.stoppedServingAfterMs >= SHUTDOWN_DELAY_MS, `new requests were refused ${run.stoppedServingAfterMs.toFixed(0)} ms after SIGTERM, before the shutdown delay`);
  assert.equal(run.slow.status, 200, 'the request in flight when new ones were refused was answered');
  assert.equal(run.exitCode, 0);
  assert.ok(run.exitedAfterMs < GRACE_MS, `exited ${run.exitedAfterMs.toFixed(0)} ms after SIGTERM; the grace period is ${GRACE_MS} ms`);
}

describe('SIGTERM under load', function () {
  this.timeout(120_000);

  it('a variant server fails readiness first, serves until it stops taking requests, loses no request and exits 0 in time', async () => {
    const server = await spawnVariantServer([
      '--model', TEST_MODEL_DIR, '--port', '0', '--host', '127.0.0.1',
      '--shutdown-delay-ms', String(SHUTDOWN_DELAY_MS), '--drain-timeout-ms', String(DRAIN_TIMEOUT_MS),
    ]);
    try {
      const { data } = referenceRows();
      const url = `${server.url}/v2/models/${TEST_MODEL_NAME}/infer`;
      const body = JSON.stringify(inferBody('features', 1, data.subarray(0, TEST_INPUT_DIM)));
      const send = async (dispatcher: Agent) => {
        const response = await request(url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body });
        await response.body.text();
        return response.statusCode;
      };
      // A draining variant server keeps its listener open, answering new requests 503, until its in-flight requests are done.
      const stoppedServing = async () => server.logs.some((l) => l.message === 'draining');
      const run = await sigtermUnderLoad({ child: server.child, readyUrl: `${server.url}/v2/health/ready`, send, slow: startSlowRequest(url, body), stoppedServing });
      assertGraceful(run);
      const messages = server.logs.map((l) => l.message);
      assert.ok(messages.indexOf('readiness fails; still serving until endpoints drop this replica') < messages.indexOf('draining'));
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('the router fails readiness first, serves until the listener closes, loses no request and exits 0 in time', async () => {
    let cascade: LocalCascade | undefined;
    try {
      cascade = await startLocalCascade({
        cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'),
        routerFlags: ['--shutdown-delay-ms', String(SHUTDOWN_DELAY_MS)],
      });
      const stream = sessionStream({ streamSeed: 5, activeSessions: 16, requestsPerSession: 40 });
      const row = () => JSON.stringify({ features: [Array.from((stream.next().value as SessionRequest).features)] });
      const url = `${cascade.router.url}/predict`;
      const send = async (dispatcher: Agent) => {
        const response = await request(url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: row() });
        await response.body.text();
        return response.statusCode;
      };
      const readyUrl = `${cascade.router.url}/readyz`;
      const stoppedServing = () => fetch(readyUrl).then(() => false, () => true);
      const run = await sigtermUnderLoad({ child: cascade.router.child, readyUrl, send, slow: startSlowRequest(url, row()), stoppedServing });
      assertGraceful(run);
    } finally {
      await cascade?.stop();
    }
  });
});
