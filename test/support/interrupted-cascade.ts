// Starts the sample cascade as local processes, prints their pids as one JSON line and waits to be
// interrupted (test/e2e/local-cascade-signals.test.ts).
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade } from '../../scripts/standalone/local-cascade.js';

const cascade = await startLocalCascade({ cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml') });
const pids = [cascade.router.child.pid, ...Object.values(cascade.variants).map((variant) => variant.child.pid)];
process.stdout.write(`${JSON.stringify({ pids })}\n`);
setInterval(() => undefined, 60_000);
