/** Architecture and training settings of each workload's reference variants. */
import type { WorkloadName } from '../data/workloads.js';

export interface TrainSettings {
  epochs: number;
  lr: number;
  batch: number;
}

export interface FactorySpec {
  seed: number;
  threads: number;
  reference_rows: number;
  /** dropout: on the full model's hidden layers while it trains (wide MLPs overfit the training rows). */
  full: { hidden: number[]; dropout?: number; train: TrainSettings };
  distilled: { hidden: number[]; temperature: number; train: TrainSettings };
  pruned: { keep: number; train: TrainSettings };
  quantized: { levels: number };
}

export const FACTORY_SPECS: Record<WorkloadName, FactorySpec> = {
  'sessions-32': {
    seed: 7,
    threads: 2,
    reference_rows: 16,
    full: { hidden: [2048, 2048, 2048], dropout: 0.1, train: { epochs: 10, lr: 1e-3, batch: 512 } },
    distilled: { hidden: [16], temperature: 2, train: { epochs: 20, lr: 3e-3, batch: 256 } },
    pruned: { keep: 0.3, train: { epochs: 2, lr: 3e-4, batch: 256 } },
    quantized: { levels: 63 },
  },
  digits: {
    seed: 7,
    threads: 2,
    reference_rows: 16,
    full: { hidden: [1280, 1280, 1280], train: { epochs: 12, lr: 5e-4, batch: 128 } },
    distilled: { hidden: [32], temperature: 3, train: { epochs: 25, lr: 3e-3, batch: 128 } },
    pruned: { keep: 0.3, train: { epochs: 4, lr: 2e-4, batch: 128 } },
    quantized: { levels: 63 },
  },
};
