import assert from 'node:assert/strict';
import { createLogger } from '../../common/logger.js';
import { LoadTracker } from '../../router-sidecar/load/load-tracker.js';
import { cpuUtilizationByRole, podCpuCores, podMetricsFailure, type PodMetrics } from '../../router-sidecar/load/pod-cpu.js';
import { PodCpuPoller, type PodCpuPollResult } from '../../router-sidecar/load/pod-cpu-poller.js';
import { parseRouterConfig } from '../../router-sidecar/config.js';
import { routerConfig } from '../../operator/desired/router.js';
import { defaultBuildOptions } from '../../operator/desired/index.js';
import type { InferenceCascade } from '../../crds/types.js';
import { sampleCascade as sampleJson } from '../support/cascades.js';

const sampleCascade = (...args: Parameters<typeof sampleJson>) => sampleJson(...args) as unknown as InferenceCascade;

const pod = (name: string, role: string | undefined, ...cpu: string[]): PodMetrics => ({
  metadata: { name, labels: role ? { 'cascade.inference.dev/role': role } : {} },
  containers: cpu.map((c, i) => ({ name: `c${i}`, usage: { cpu: c, memory: '10Mi' } as { cpu: string } })),
});

class ApiError extends Error {
  constructor(readonly code: number) {
    super(`HTTP-Code: ${code}`);
  }
}

describe('pod CPU from metrics.k8s.io', () => {
  it('reads container usage in the units metrics-server uses', () => {
    assert.equal(podCpuCores(pod('a', 'full', '250000000n')), 0.25);
    assert.equal(podCpuCores(pod('a', 'full', '300m', '200m')), 0.5);
    assert.equal(podCpuCores(pod('a', 'full', '1500u')), 0.0015);
    assert.equal(podCpuCores(pod('a', 'full', '2')), 2);
    assert.equal(podCpuCores(pod('a', 'full', 'lots')), undefined, 'an unreadable figure makes the pod unreadable');
    assert.equal(podCpuCores({ metadata: { name: 'a' } }), undefined, 'no containers, no figure');
  });

  it('reports each role as its pods\' summed usage over their summed capacity', () => {
    const utilization: Partial<Record<string, number>> = cpuUtilizationByRole([
      pod('full-1', 'full', '500m'), pod('full-2', 'full', '1500m'),
      pod('q-1', 'quantized', '50m'),
      pod('p-1', 'pruned', '100m'),
    ], { full: 2000, quantized: 100, distilled: 100 });
    assert.equal(utilization.pruned, undefined, 'pruned has pods but no known capacity: missing');
    assert.equal(utilization.distilled, undefined, 'distilled has capacity but no pod metrics: missing, not idle');
    assert.deepEqual(utilization, { full: 0.5, quantized: 0.5 });
  });

  it('leaves out pods without a role label, with an unknown role or with unreadable usage', () => {
    const utilization = cpuUtilizationByRole([
      pod('router', undefined, '900m'), pod('x', 'teacher', '900m'), pod('bad', 'full', 'NaN'), pod('good', 'full', '100m'),
    ], { full: 1000 });
    assert.deepEqual(utilization, { full: 0.1 });
  });

  it('can exceed 1 when a pod without a limit uses more than its request', () => {
    assert.deepEqual(cpuUtilizationByRole([pod('d', 'distilled', '300m')], { distilled: 100 }), { distilled: 3 });
  });

  it('tells an absent API from a refusal from other failures', () => {
    assert.equal(podMetricsFailure(404), 'unavailable');
    assert.equal(podMetricsFailure(503), 'unavailable');
    assert.equal(podMetricsFailure(403), 'forbidden');
    assert.equal(podMetricsFailure(401), 'forbidden');
    assert.equal(podMetricsFailure(500), 'error');
    assert.equal(podMetricsFailure(undefined), 'error');
  });
});

describe('PodCpuPoller', () => {
  const logger = createLogger('error');

  it('feeds utilisation to the load tracker and marks the signal missing when the API goes away, then back', async () => {
    const load = new LoadTracker();
    let answer: PodMetrics[] | Error = [pod('f', 'full', '250m'), pod('q', 'quantized', '20m')];
    const results: PodCpuPollResult[] = [];
    const poller = new PodCpuPoller({
      list: async () => {
        if (answer instanceof Error) throw answer;
        return answer;
      },
      cpuMillis: () => ({ full: 1000, quantized: 100, pruned: 100, distilled: 100 }),
      load, intervalMs: 1000, logger, onPoll: (r) => results.push(r),
    });
    assert.equal(await poller.poll(), 'ok');
    assert.equal(load.variant('full').cpuUtilization, 0.25);
    assert.equal(load.variant('quantized').cpuUtilization, 0.2);
    assert.equal(load.variant('pruned').cpuUtilization, undefined);

    answer = new ApiError(404);
    assert.equal(await poller.poll(), 'unavailable');
    assert.equal(poller.state, 'unavailable');
    assert.equal(load.variant('full').cpuUtilization, undefined, 'a failed poll drops the old figure at once');

    answer = new ApiError(403);
    assert.equal(await poller.poll(), 'forbidden');
    answer = [pod('f', 'full', '750m')];
    assert.equal(await poller.poll(), 'ok');
    assert.equal(load.variant('full').cpuUtilization, 0.75);
    assert.equal(load.variant('quantized').cpuUtilization, undefined, 'a variant whose pods vanished from the list is missing');
    assert.deepEqual(results, ['ok', 'unavailable', 'forbidden', 'ok']);
  });

  it('ages the figure out on its own clock, slower than the scraped queue depth', () => {
    let now = 0;
    const load = new LoadTracker({ staleAfterMs: 6000, cpuStaleAfterMs: 45_000, clock: () => now });
    load.setCpuUtilization('full', 0.4);
    load.setQueueDepth('full', 3);
    now = 10_000;
    assert.equal(load.variant('full').queueDepth, undefined);
    assert.equal(load.variant('full').cpuUtilization, 0.4);
    now = 46_000;
    assert.equal(load.variant('full').cpuUtilization, undefined);
  });
});

describe('pod CPU capacity in the router config', () => {
  it('is rendered by the operator from each variant\'s limit, else its request, and read back by the router', () => {
    const cascade = sampleCascade('cpu', 'ns', (spec) => {
      spec.variants[0]!.resources = { requests: { cpu: '250m' }, limits: { cpu: '1500m' } };
      spec.variants[1]!.resources = { requests: { cpu: '0.5' } };
      spec.variants[2]!.resources = undefined;
    });
    const config = routerConfig(cascade, defaultBuildOptions);
    const millis = config.variants.map((v) => v.cpuMillis);
    assert.deepEqual(millis.slice(0, 3), [1500, 500, 100], 'limit, else request, else the operator\'s default request');
    const parsed = parseRouterConfig(JSON.stringify(config), 'router.json');
    assert.deepEqual(parsed.variants.map((v) => v.cpuMillis), millis);
  });

  it('refuses a non-positive or non-numeric capacity, naming the field', () => {
    const config = routerConfig(sampleCascade('cpu', 'ns'), defaultBuildOptions) as unknown as { variants: Record<string, unknown>[] };
    config.variants[1]!.cpuMillis = 0;
    assert.throws(() => parseRouterConfig(JSON.stringify(config), 'router.json'), /router\.json: variants\[1\]\.cpuMillis must be a positive number of millicores, got 0/);
    config.variants[1]!.cpuMillis = '500m';
    assert.throws(() => parseRouterConfig(JSON.stringify(config), 'router.json'), /variants\[1\]\.cpuMillis must be a number, got "500m"/);
  });
});
