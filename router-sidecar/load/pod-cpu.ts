// Pod CPU per variant from the Kubernetes resource metrics API (metrics.k8s.io, served by
// metrics-server). A variant's utilisation is its pods' summed usage over their summed capacity
// (each pod's CPU limit, else its request, which the operator renders into the router config).
// Without the API (no metrics-server), without permission, or for a variant with no pod metrics,
// the signal is missing, never zero, and the policy counts it in signals_missing.
import { parseQuantity } from '../../common/quantity.js';
import { ROLES, type Role } from '../../crds/types.js';
import { ROLE_LABEL } from '../../operator/desired/labels.js';

export interface PodMetrics {
  metadata?: { name?: string; labels?: Record<string, string> };
  containers?: { name?: string; usage?: { cpu?: string } }[];
}

export type CpuUtilization = Partial<Record<Role, number>>;

/** CPU cores a pod uses (sum over its containers); undefined when any figure is unreadable. */
export function podCpuCores(pod: PodMetrics): number | undefined {
  const containers = pod.containers ?? [];
  if (containers.length === 0) return undefined;
  let cores = 0;
  for (const container of containers) {
    const value = container.usage?.cpu === undefined ? undefined : parseQuantity(container.usage.cpu);
    if (value === undefined || !Number.isFinite(value) || value < 0) return undefined;
    cores += value;
  }
  return cores;
}

/**
 * Utilisation per role from one metrics.k8s.io pod list. Pods without a role label or with
 * unreadable usage are left out; a role with none left, or with no known capacity, is absent.
 */
export function cpuUtilizationByRole(pods: readonly PodMetrics[], cpuMillis: Partial<Record<Role, number>>): CpuUtilization {
  const used = new Map<Role, { cores: number; pods: number }>();
  for (const pod of pods) {
    const role = pod.metadata?.labels?.[ROLE_LABEL] as Role | undefined;
    if (!role || !ROLES.includes(role)) continue;
    const cores = podCpuCores(pod);
    if (cores === undefined) continue;
    const sum = used.get(role) ?? { cores: 0, pods: 0 };
    sum.cores += cores;
    sum.pods += 1;
    used.set(role, sum);
  }
  const result: CpuUtilization = {};
  for (const [role, sum] of used) {
    const millis = cpuMillis[role];
    if (millis === undefined || !(millis > 0)) continue;
    result[role] = (sum.cores * 1000) / (sum.pods * millis);
  }
  return result;
}

/** What a failed metrics.k8s.io call means for the signal, from its HTTP status. */
export function podMetricsFailure(status: number | undefined): 'unavailable' | 'forbidden' | 'error' {
  // 404: the API is not registered (no metrics-server); 503: registered but its backend is down.
  if (status === 404 || status === 503) return 'unavailable';
  if (status === 401 || status === 403) return 'forbidden';
  return 'error';
}
