// A winston logger that keeps its structured entries in memory, for tests that run operator code
// in-process and assert on what it logged (the same JSON the operator writes to stderr).
import { Writable } from 'node:stream';
import winston from 'winston';

export interface CapturedLogger {
  logger: winston.Logger;
  entries: Record<string, unknown>[];
}

export function captureLogger(level = 'debug'): CapturedLogger {
  const entries: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) entries.push(JSON.parse(line) as Record<string, unknown>);
      if (process.env.OPERATOR_LOGS === '1') process.stderr.write(`      [in-process] ${chunk.toString('utf8')}`);
      callback();
    },
  });
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { logger, entries };
}
