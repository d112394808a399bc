import { strict as assert } from 'node:assert';
import { modelsFingerprint } from '../../training/policy/traces.js';

describe('policy traces: which models they were recorded on', () => {
  it('fingerprints a workload by its four model cards, stably and per workload', () => {
    const sessions = modelsFingerprint('sessions-32');
    assert.match(sessions, /^[0-9a-f]{64}$/);
    assert.equal(modelsFingerprint('sessions-32'), sessions);
    assert.notEqual(modelsFingerprint('digits'), sessions);
  });

  it('names the missing model card and the command that builds it', () => {
    assert.throws(() => modelsFingerprint('no-such-workload'), /models\/no-such-workload\/quantized\/card\.json is missing: run npm run models:build -- --workload no-such-workload/);
  });
});
