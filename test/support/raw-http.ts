// Hostile-client helpers for the body-limit and fuzz tests: requests with arbitrary bytes and
// headers (chunked or with a Content-Length, any content type or none), a worker pool to send
// many of them, and a child process's memory: resident as the kernel reports it, and live after a
// garbage collection forced through its inspector.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { WebSocket } from 'undici';

export interface RawRequest {
  method?: string;
  path: string;
  /** Sent as given; undefined sends no content-type header at all. */
  contentType?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Transfer-Encoding: chunked (no Content-Length), the body split in two chunks. */
  chunked?: boolean;
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * One request over `agent` (keep-alive where the server allows it). A server that refuses a body
 * may close the connection while the body is still being written; once the reply has arrived,
 * such a reset is not the request's failure.
 */
export function sendRaw(baseUrl: string, request: RawRequest, agent: http.Agent): Promise<RawReply> {
  const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body);
  const headers: Record<string, string> = { ...request.headers };
  if (request.contentType !== undefined) headers['content-type'] = request.contentType;
  if (body && !request.chunked) headers['content-length'] = String(body.length);
  return new Promise<RawReply>((resolve, reject) => {
    let answered = false;
    const req = http.request(`${baseUrl}${request.path}`, { method: request.method ?? 'POST', headers, agent }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (!body) {
      req.end();
    } else if (request.chunked) {
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else {
      req.end(body);
    }
  });
}

/** Runs `count` tasks with `concurrency` in flight; the first failure stops the run and is thrown. */
export async function runPool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < count) {
      const index = next++;
      try {
        await task(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** VmRSS of a live process, from /proc (Linux). */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}

export const MiB = 1024 * 1024;
export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** The inspector's WebSocket URL that a process started with --inspect=127.0.0.1:0 wrote to its log. */
export function inspectorUrl(logFile: string): string {
  const match = /Debugger listening on (ws:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'));
  if (!match) throw new Error(`${logFile} names no inspector URL; start the process with --inspect=127.0.0.1:0`);
  return match[1]!;
}

export interface MemoryAfterGc {
  rss: number;
  heapUsed: number;
  /** Memory outside the V8 heap held by JS objects, Buffers' bytes among them. */
  external: number;
}

/**
 * Collects garbage in another process through its inspector, then reads its process.memoryUsage():
 * live memory without the garbage that RSS and a plain heap reading include.
 */
export async function memoryAfterGc(wsUrl: string): Promise<MemoryAfterGc> {
  const socket = new WebSocket(wsUrl);
  let id = 0;
  const pending = new Map<number, { resolve(result: any): void; reject(error: Error): void }>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(`inspector: ${message.error.message}`));
    else waiter.resolve(message.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<any> =>
    new Promise((resolve, reject) => {
      pending.set(++id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot connect to the inspector at ${wsUrl}`)), { once: true });
  });
  try {
    // Twice: the first collection's finalizers can free more on the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const { result } = (await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    const usage = JSON.parse(result.value) as NodeJS.MemoryUsage;
    return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external };
  } finally {
    socket.close();
  }
}
