// The router's client for a variant server, against a real HTTP server in another process (so that
// it keeps answering while this process's event loop is blocked).
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { UpstreamError, VariantClient } from '../../router-sidecar/upstream.js';

// Answers every OIP infer after 15 ms, except for the model "slow", which answers after 300 ms.
const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const answer = () => res.end(JSON.stringify({ outputs: [{ name: 'probabilities', shape: [1, 2], datatype: 'FP32', data: [0.25, 0.75] }] }));
    setTimeout(answer, req.url.includes('/models/slow/') ? 300 : 15);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the event loop is blocked, as by a long GC pause or a burst of synchronous work
  }
}

describe('VariantClient timeouts', () => {
  let server: ChildProcess;
  let endpoint: string;
  const clients: VariantClient[] = [];
  const client = (name: string) => {
    const c = new VariantClient({ role: 'distilled', name, endpoint, modelVersion: '1' });
    clients.push(c);
    return c;
  };
  const features = Float32Array.from([1, 2, 3]);

  before(async () => {
    server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    endpoint = `http://127.0.0.1:${line.toString().trim()}`;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    server.kill();
  });

  it('delivers an answer that arrived while the event loop was blocked past the timeout', async () => {
    const fast = client('fast');
    await fast.infer(features, 1, 1000, false); // connected
    for (let i = 0; i < 5; i++) {
      const pending = fast.infer(features, 1, 30, false);
      await new Promise((resolve) => setTimeout(resolve, 5)); // the request is on the wire
      // Blocked in the check phase, so due timers run before the sockets are polled again.
      await new Promise((resolve) => setImmediate(resolve));
      busyWait(100); // the answer lands in the socket buffer at about 15 ms; the 30 ms timer is overdue
      const answer = await pending;
      assert.deepEqual(Array.from(answer.probabilities), [0.25, 0.75]);
    }
  });

  it('still times out a variant that has not answered', async () => {
    const slow = client('slow');
    const started = performance.now();
    await assert.rejects(slow.infer(features, 1, 30, false), (error: unknown) => {
      assert.ok(error instanceof UpstreamError);
      assert.equal(error.kind, 'timeout');
      assert.match(error.message, /did not answer within 30 ms/);
      return true;
    });
    assert.ok(performance.now() - started < 250, 'gave up well before the 300 ms answer');
  });
});
