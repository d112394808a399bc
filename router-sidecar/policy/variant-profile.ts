// What each variant offers, from its model card (models/<workload>/<role>/card.json): held-out
// accuracy and batch-1 latency measured when the variant was built. relativeCost is p50 latency
// relative to the slowest variant (1 = as costly as the slowest), the cost the heuristic minimises.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROLES, type Role } from '../../crds/types.js';

export interface VariantProfile {
  role: Role;
  accuracy: number;
  latencyMsP50: number;
  latencyMsP99: number;
  relativeCost: number;
}

export type VariantProfiles = Record<Role, VariantProfile>;

export type MeasuredProfile = Omit<VariantProfile, 'relativeCost'>;

export class VariantProfileError extends Error {
  override name = 'VariantProfileError';
}

export const CARD_FILE = 'card.json';

function positive(card: Record<string, unknown>, field: string, source: string): number {
  const value = card[field];
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new VariantProfileError(`${source}: ${field} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Reads the fields the router needs from a parsed model card. */
export function profileFromCard(card: unknown, source: string, expectedRole?: Role): MeasuredProfile {
  if (typeof card !== 'object' || card === null || Array.isArray(card)) throw new VariantProfileError(`${source}: must be a JSON object`);
  const fields = card as Record<string, unknown>;
  const role = fields.role;
  if (!ROLES.includes(role as Role)) throw new VariantProfileError(`${source}: role must be one of ${ROLES.join(', ')}, got ${JSON.stringify(role)}`);
  if (expectedRole && role !== expectedRole) throw new VariantProfileError(`${source}: role is ${JSON.stringify(role)} but the card is in the ${expectedRole} directory`);
  const accuracy = positive(fields, 'accuracy', source);
  if (accuracy > 1) throw new VariantProfileError(`${source}: accuracy must be in (0, 1], got ${accuracy}`);
  const latencyMsP50 = positive(fields, 'latency_ms_p50', source);
  const latencyMsP99 = positive(fields, 'latency_ms_p99', source);
  if (latencyMsP99 < latencyMsP50) throw new VariantProfileError(`${source}: latency_ms_p99 (${latencyMsP99}) is below latency_ms_p50 (${latencyMsP50})`);
  return { role: role as Role, accuracy, latencyMsP50, latencyMsP99 };
}

/** Adds relativeCost (p50 latency / the largest p50) to one measured profile per role. */
export function withRelativeCosts(measured: Record<Role, MeasuredProfile>): VariantProfiles {
  const slowest = Math.max(...ROLES.map((role) => measured[role].latencyMsP50));
  const profile = (role: Role): VariantProfile => ({ ...measured[role], relativeCost: measured[role].latencyMsP50 / slowest });
  return { quantized: profile('quantized'), pruned: profile('pruned'), distilled: profile('distilled'), full: profile('full') };
}

/** Reads `<workloadDir>/<role>/card.json` for every role. */
export async function loadVariantProfiles(workloadDir: string): Promise<VariantProfiles> {
  const entries = await Promise.all(ROLES.map(async (role) => {
    const file = path.join(workloadDir, role, CARD_FILE);
    let card: unknown;
    try {
      card = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new VariantProfileError(`${file}: cannot read the model card: ${(err as Error).message}`);
    }
    return [role, profileFromCard(card, file, role)] as const;
  }));
  return withRelativeCosts(Object.fromEntries(entries) as Record<Role, MeasuredProfile>);
}
