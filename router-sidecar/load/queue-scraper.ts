// Reads each variant's queue depth from its /metrics every few seconds. A variant that does not
// answer gets its signal marked missing (not zero), so the policy falls back to what the router
// measures itself.
import { errorMessage, type Logger } from '../../common/logger.js';
import { ROLES, type Role } from '../../crds/types.js';
import type { VariantClient } from '../upstream.js';
import type { LoadTracker } from './load-tracker.js';
import { readGauge } from './prometheus-text.js';

export const QUEUE_DEPTH_METRIC = 'inference_cascade_variant_queue_depth';

export interface QueueScraperOptions {
  clients: () => Record<Role, VariantClient>;
  load: LoadTracker;
  intervalMs: number;
  logger: Logger;
}

export async function scrapeQueueDepths(clients: Record<Role, VariantClient>, load: LoadTracker, timeoutMs: number, logger: Logger): Promise<void> {
  await Promise.all(
    ROLES.map(async (role) => {
      try {
        const depth = readGauge(await clients[role].metricsText(timeoutMs), QUEUE_DEPTH_METRIC);
        load.setQueueDepth(role, depth ?? Number.NaN);
      } catch (error) {
        load.setQueueDepth(role, Number.NaN);
        logger.debug('queue depth scrape failed', { variant: role, error: errorMessage(error) });
      }
    }),
  );
}

export function startQueueScraper(options: QueueScraperOptions): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    scrapeQueueDepths(options.clients(), options.load, Math.min(1000, options.intervalMs), options.logger).finally(() => {
      running = false;
    });
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
