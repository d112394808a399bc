// The drift experiment through the real router and variant servers, at a reduced size: the agent
// detects the drift within 200 requests, the control run has no false positive, and a second run
// from the same seed gives the same report apart from timing fields (on a busy machine too: the
// experiment never cuts an attempt short, so nothing falls back for timing).
import { strict as assert } from 'node:assert';
import { DRIFT_SETTINGS, runDrift } from '../../experiments/drift.js';
import { withoutTiming } from '../../experiments/report.js';

describe('drift experiment (real router and variant servers)', function () {
  this.timeout(300_000);
  const settings = { ...DRIFT_SETTINGS, requests: 1500, drift: { onset: 600, rampRequests: 50, magnitude: 4, recovery: 1100 } };

  it('detects drift within 200 requests, never on the control run, and repeats from its seed', async () => {
    const first = await runDrift({ seed: 77, log: () => {} }, settings);
    const json = first.json as {
      detection_delay_requests: number | null; false_positives_control: number;
      runs: Record<string, { mirror_mismatches: number; phases: Record<string, { served_by_another_variant: number }> }>;
    };
    assert.ok(json.detection_delay_requests !== null && json.detection_delay_requests < 200, `delay ${json.detection_delay_requests}`);
    assert.equal(json.false_positives_control, 0);
    for (const run of Object.values(json.runs)) {
      assert.equal(run.mirror_mismatches, 0, 'every hit is explained by the cache mirror');
      for (const phase of Object.values(run.phases)) assert.equal(phase.served_by_another_variant, 0, 'no request fell back from the static variant');
    }
    const second = await runDrift({ seed: 77, log: () => {} }, settings);
    assert.deepEqual(withoutTiming(second.json), withoutTiming(first.json));
  });
});
