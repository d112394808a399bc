// A request that is in flight for as long as the test wants: the body is sent in two halves.
import http from 'node:http';

/** Sends the headers and half the body now; `finish()` sends the rest and resolves with the response. */
export function startSlowRequest<T = Record<string, unknown>>(url: string, body: string): { finish(): Promise<{ status: number; body: T }> } {
  const bytes = Buffer.from(body);
  const half = Math.floor(bytes.length / 2);
  const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': bytes.length } });
  const response = new Promise<{ status: number; body: T }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T }));
    });
    req.on('error', reject);
  });
  req.write(bytes.subarray(0, half));
  return {
    finish() {
      req.end(bytes.subarray(half));
      return response;
    },
  };
}

