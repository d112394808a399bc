// Per-request hints carried as headers: the SLA hints x-latency-budget-ms and x-min-accuracy, and
// x-cascade-variant, which pins the request to one role (the router then skips the policy).
import { RequestError } from '../common/http-json.js';
import { ROLES, type Role } from '../crds/types.js';
import type { RequestHints } from './policy/policy.js';

export const LATENCY_BUDGET_HEADER = 'x-latency-budget-ms';
export const MIN_ACCURACY_HEADER = 'x-min-accuracy';
export const VARIANT_HEADER = 'x-cascade-variant';

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function parseHints(headers: Record<string, string | string[] | undefined>): RequestHints | undefined {
  const budget = header(headers, LATENCY_BUDGET_HEADER);
  const accuracy = header(headers, MIN_ACCURACY_HEADER);
  const variant = header(headers, VARIANT_HEADER);
  if (budget === undefined && accuracy === undefined && variant === undefined) return undefined;
  const hints: RequestHints = {};
  if (budget !== undefined) {
    const value = Number(budget);
    if (budget.trim() === '' || !Number.isFinite(value) || value <= 0 || value > 600_000) {
      throw new RequestError(400, `header ${LATENCY_BUDGET_HEADER} must be a positive number of milliseconds, got ${JSON.stringify(budget)}`);
    }
    hints.latencyBudgetMs = value;
  }
  if (accuracy !== undefined) {
    const value = Number(accuracy);
    if (accuracy.trim() === '' || !Number.isFinite(value) || value <= 0 || value > 1) {
      throw new RequestError(400, `header ${MIN_ACCURACY_HEADER} must be a fraction in (0, 1], got ${JSON.stringify(accuracy)}`);
    }
    hints.minAccuracy = value;
  }
  if (variant !== undefined) {
    const role = variant.trim();
    if (!ROLES.includes(role as Role)) {
      throw new RequestError(400, `header ${VARIANT_HEADER} must be one of ${ROLES.join(', ')}, got ${JSON.stringify(variant)}`);
    }
    hints.variant = role as Role;
  }
  return hints;
}
