// npm run cluster:up | cluster:down | cluster:status
import { down, isUp, up } from './cluster/controlplane.js';
import { KUBECONFIG } from './cluster/paths.js';

const command = process.argv[2];
try {
  if (command === 'up') await up();
  else if (command === 'down') await down();
  else if (command === 'status') {
    const running = await isUp();
    console.log(running ? `up (KUBECONFIG=${KUBECONFIG})` : 'down');
    process.exitCode = running ? 0 : 1;
  } else {
    console.error('usage: tsx scripts/cluster.ts up|down|status');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`[cluster] ${(err as Error).message}`);
  process.exitCode = 1;
}
