// Hostile-client helpers for the body-limit and fuzz tests: requests with arbitrary bytes and
// headers (chunked or with a Content-Length, any content type or none), a worker pool to send
// many of them, and a child process's memory: resident as the kernel reports it, and live after a
// garbage collection forced through its inspector.
import { readFileSync } from 'node:fs';
import http from 'node:http';

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

export { inspectorUrl, memoryAfterGc, type MemoryAfterGc } from '../../scripts/standalone/inspector.js';
