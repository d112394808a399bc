import { strict as assert } from 'node:assert';
import { mergeRounds } from '../../training/policy/record.js';
import type { LoadLevel } from '../../training/policy/trace.js';

const level = (cpuMsPerRequest: number, latencyMs: number[], requestsPerSecond = 1000): LoadLevel => ({
  concurrency: 4, requests: latencyMs.length, latencyMs, cpuMsPerRequest, clientCpuMsPerRequest: cpuMsPerRequest / 2, requestsPerSecond,
});

describe('service profile rounds', () => {
  it('keep the median round, so one disturbed round does not set a variant\'s cost', () => {
    const merged = mergeRounds([level(0.3, [1, 4]), level(0.9, [2, 9], 400), level(0.32, [3])]);
    assert.equal(merged.cpuMsPerRequest, 0.32);
    assert.equal(merged.clientCpuMsPerRequest, 0.16);
    assert.equal(merged.requestsPerSecond, 1000);
    assert.equal(merged.requests, 5);
    assert.deepEqual(merged.latencyMs, [1, 2, 3, 4, 9], 'latencies pooled and sorted');
  });

  it('take the mean of the middle two of an even count', () => {
    const merged = mergeRounds([level(0.2, [1]), level(0.4, [1]), level(1, [1]), level(0.1, [1])]);
    assert.ok(Math.abs(merged.cpuMsPerRequest - 0.3) < 1e-12, String(merged.cpuMsPerRequest));
  });

  it('refuse no rounds and rounds of different concurrencies', () => {
    assert.throws(() => mergeRounds([]), /no rounds/);
    assert.throws(() => mergeRounds([level(0.3, [1]), { ...level(0.3, [1]), concurrency: 16 }]), /different concurrencies/);
  });
});
