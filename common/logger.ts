import winston from 'winston';

export type Logger = Pick<winston.Logger, 'info' | 'warn' | 'error' | 'debug' | 'child'>;

/** Structured JSON logs on stderr, so stdout stays free for command output. */
export function createLogger(level = 'info', defaultMeta: Record<string, unknown> = {}): winston.Logger {
  return winston.createLogger({
    level,
    defaultMeta,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
}

export function errorMessage(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: number; body?: unknown; message?: string };
    if (typeof e.code === 'number' && e.body !== undefined) {
      const body = typeof e.body === 'string' ? tryParse(e.body) : e.body;
      const message = (body as { message?: string } | undefined)?.message;
      if (message) return `HTTP ${e.code}: ${message}`;
    }
    if (e.message) return e.message;
  }
  return String(err);
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
