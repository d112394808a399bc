/** The named reference workloads, each a deterministic train/test split. */
import type { Split } from './dataset.js';
import { digitsSplit } from './digits.js';
import { DEFAULT_SESSIONS32, sessions32Split } from './sessions32.js';

export const WORKLOADS = ['sessions-32', 'digits'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export function isWorkloadName(value: string): value is WorkloadName {
  return (WORKLOADS as readonly string[]).includes(value);
}

export function workloadSplit(name: WorkloadName): Split {
  return name === 'digits' ? digitsSplit() : sessions32Split(DEFAULT_SESSIONS32);
}
