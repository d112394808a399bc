// Reading another Node process's live memory through its inspector (the process runs with
// --inspect=127.0.0.1:0): used by the memory tests and the soak run.
import { readFileSync } from 'node:fs';
import { WebSocket } from 'undici';

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
