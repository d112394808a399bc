// A one-line progress bar on stderr (a plain line per step when stderr is not a terminal).
export interface Progress {
  tick(done: number, detail: string): void;
  end(): void;
}

export function progressBar(label: string, total: number): Progress {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let lastLine = 0;
  return {
    tick(done, detail) {
      const width = 24;
      const filled = Math.round((done / total) * width);
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${seconds}s ${detail}`;
      if (tty) process.stderr.write(`\r${line.padEnd(lastLine)}`);
      else process.stderr.write(`${line}\n`);
      lastLine = line.length;
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}
