// npm run experiment -- <load|drift|risk|canary> [--seed N]: runs one experiment and writes
// reports/experiment-<name>.json, its plots and a markdown summary (shared/design/REPORTS.md).
import { parseArgs } from 'node:util';
import type { ExperimentContext, ExperimentReport } from './report.js';
import { writeReport } from './report.js';

const EXPERIMENTS: Record<string, () => Promise<(context: ExperimentContext) => Promise<ExperimentReport>>> = {
  load: async () => (await import('./load.js')).runLoad,
  drift: async () => (await import('./drift.js')).runDrift,
  risk: async () => (await import('./risk.js')).runRisk,
  canary: async () => (await import('./canary.js')).runCanary,
};

const USAGE = `Usage: npm run experiment -- <${Object.keys(EXPERIMENTS).join('|')}> [--seed N]`;

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { seed: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return void console.log(USAGE);
  const name = positionals[0];
  if (!name || !(name in EXPERIMENTS) || positionals.length > 1) {
    console.error(`experiment: expected one of ${Object.keys(EXPERIMENTS).join(', ')}, got ${positionals.length ? positionals.join(' ') : 'nothing'}\n${USAGE}`);
    process.exit(2);
  }
  const seed = values.seed === undefined ? 2026 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) {
    console.error(`experiment: --seed must be a non-negative integer, got "${values.seed}"`);
    process.exit(2);
  }
  const started = performance.now();
  const log = (message: string) => console.log(`[${name} ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}`);
  const run = await EXPERIMENTS[name]!();
  const report = await run({ seed, log });
  report.json.seconds = Math.round((performance.now() - started) / 100) / 10;
  const written = writeReport(report);
  console.log(`\n${report.summary}\n`);
  log(`wrote ${written.join(', ')}`);
}

await main();
