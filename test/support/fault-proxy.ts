// A fault-injecting HTTP proxy in front of the real API server: clients talk plain HTTP to it and
// it forwards every request (with the client's bearer token) over TLS to the real kube-apiserver.
// It can drop open watch connections, refuse new watches, or answer the next watches with a
// 410 Gone ERROR event, as an API server whose watch cache has moved on does. Everything else is
// the real server's answer: this injects faults, it does not fake the API.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse, stringify } from 'yaml';
import { PKI } from '../../scripts/cluster/certs.js';

export type WatchFault =
  /** Forward watches to the server. */
  | 'none'
  /** Answer new watches with 503, as an overloaded or restarting API server does. */
  | 'refuse'
  /** Answer new watches with 200 and one ERROR event of code 410 (resource version too old). */
  | 'gone';

export interface ProxiedRequest {
  method: string;
  path: string;
  watch: boolean;
  at: number;
  /** Status sent to the client; for a watch, the status line, not how the stream ended. */
  status: number;
  /** Whether the proxy answered itself instead of forwarding. */
  injected: boolean;
}

export interface FaultProxy {
  url: string;
  requests: ProxiedRequest[];
  watchFault: WatchFault;
  /** With watchFault 'gone': how many watches get the 410 before watches are forwarded again. */
  goneCount: number;
  /** Holds every event of watches whose path contains this text for `ms`, as a lagging watch cache does. */
  delayWatches?: { pathIncludes: string; ms: number };
  /** Cuts every open watch connection abruptly (no final chunk), as a network failure does. */
  dropWatches(): number;
  openWatches(): number;
  /** A copy of a token kubeconfig that points at this proxy instead of the API server. */
  kubeconfig(original: string): string;
  close(): Promise<void>;
}

const GONE_EVENT = {
  type: 'ERROR',
  object: {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'too old resource version (injected by the test proxy)', reason: 'Expired', code: 410,
  },
};

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const ca = readFileSync(PKI.caCert);
  const agent = new https.Agent({ keepAlive: true, ca });
  const watches = new Set<http.ServerResponse>();
  const written: string[] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const record = (status: number, injected: boolean): void => {
      proxy.requests.push({ method: req.method ?? 'GET', path: url.pathname, watch, at: Date.now(), status, injected });
    };
    if (watch && proxy.watchFault === 'refuse') {
      record(503, true);
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'injected: watch refused', code: 503 }));
      return;
    }
    if (watch && proxy.watchFault === 'gone' && proxy.goneCount > 0) {
      if (--proxy.goneCount === 0) proxy.watchFault = 'none';
      record(200, true);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(GONE_EVENT)}\n`);
      return;
    }
    const headers = { ...req.headers, host: target.host };
    const upstreamReq = https.request({
      protocol: 'https:', hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent,
    }, (upstreamRes) => {
      record(upstreamRes.statusCode ?? 0, false);
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      if (watch) {
        // The API server sends a watch's headers at once; Node would hold them until the first event.
        res.flushHeaders();
        watches.add(res);
        res.on('close', () => {
          watches.delete(res);
          upstreamRes.destroy();
        });
      }
      const delay = proxy.delayWatches;
      if (watch && delay && url.pathname.includes(delay.pathIncludes)) {
        // Each chunk later by the same amount, so events keep their order.
        upstreamRes.on('data', (chunk: Buffer) => setTimeout(() => res.write(chunk), delay.ms));
        upstreamRes.on('end', () => setTimeout(() => res.end(), delay.ms));
      } else {
        upstreamRes.pipe(res);
      }
    });
    upstreamReq.on('error', (err) => {
      if (!res.headersSent) {
        record(502, true);
        res.writeHead(502);
        res.end(String(err));
      } else {
        res.destroy();
      }
    });
    req.pipe(upstreamReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const proxy: FaultProxy = {
    url,
    requests: [],
    watchFault: 'none',
    goneCount: 0,
    dropWatches() {
      const open = [...watches];
      // Destroying the socket sends no terminating chunk: the client sees the stream fail.
      for (const res of open) res.socket?.destroy();
      return open.length;
    },
    openWatches: () => watches.size,
    kubeconfig(original) {
      const config = parse(readFileSync(original, 'utf8')) as { clusters: { cluster: Record<string, unknown> }[] };
      for (const { cluster } of config.clusters) {
        cluster.server = url;
        delete cluster['certificate-authority'];
        // Plain HTTP to the proxy; client-node refuses http:// unless told TLS is not in play.
        cluster['insecure-skip-tls-verify'] = true;
      }
      const file = `${original}.via-proxy-${(server.address() as AddressInfo).port}`;
      writeFileSync(file, stringify(config), { mode: 0o600 });
      written.push(file);
      return file;
    },
    async close() {
      for (const res of watches) res.socket?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      for (const file of written.splice(0)) rmSync(file, { force: true });
    },
  };
  return proxy;
}
