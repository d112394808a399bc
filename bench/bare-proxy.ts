// The baseline for bench/router.ts: the least a reverse proxy can do. A node:http server that pipes
// each request to one upstream over a keep-alive http.Agent and pipes the answer back, with no
// parsing, routing or metrics. Run as a child process so its CPU time can be read from /proc:
//   node --import tsx bench/bare-proxy.ts --target http://127.0.0.1:PORT [--port 0]
// Prints {"port": N} on stdout once listening; SIGTERM closes it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { target: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (!values.target) {
  process.stderr.write('bare-proxy: --target <http://host:port> is required\n');
  process.exit(2);
}
const target = new URL(values.target);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

const server = http.createServer((req, res) => {
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: `bare proxy: ${error.message}` }));
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
