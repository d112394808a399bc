// prom-client's process and Node.js runtime metrics under a component prefix, minus the three
// gauges it names with a _total suffix (nodejs_active_{handles,requests,resources}_total), which
// Prometheus reserves for counters (`promtool check metrics` flags them). The same counts stay
// available per type in nodejs_active_{handles,requests,resources}.
import { collectDefaultMetrics, type Registry } from 'prom-client';

const MISNAMED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function collectRuntimeMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of MISNAMED) registry.removeSingleMetric(`${prefix}${name}`);
}
