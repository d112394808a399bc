import assert from 'node:assert/strict';
import { containsDesired } from '../../operator/diff.js';
import { canonicalJson, withoutTypeMeta } from '../../operator/reconciler.js';

describe('reconciler helpers', () => {
  it('compares children without apiVersion and kind, which list items lack', () => {
    const desired = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a' }, spec: { replicas: 1 } };
    const fromList = { metadata: { name: 'a', resourceVersion: '7' }, spec: { replicas: 1, paused: false } };
    assert.equal(containsDesired(fromList, desired), false);
    assert.equal(containsDesired(fromList, withoutTypeMeta(desired)), true);
    assert.equal(containsDesired({ ...fromList, spec: { replicas: 2 } }, withoutTypeMeta(desired)), false);
  });

  it('canonicalJson ignores key order and undefined values but not array order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 2], c: undefined } }), canonicalJson({ a: { d: [1, 2] }, b: 1 }));
    assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  });
});
