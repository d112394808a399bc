// Mocha root hooks. The local control plane is started lazily by the first cluster test that asks
// for it (test/support/cluster.ts) and stopped here if this run started it.
import { stopClusterIfStartedByTests } from './support/cluster.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopClusterIfStartedByTests();
  },
};
