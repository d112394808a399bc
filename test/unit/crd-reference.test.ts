import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CRD_FILE, crdReference, README_FILE, withReference } from '../../scripts/crd-reference.js';

describe('README CRD reference', () => {
  it('is what the schema generates (run npm run docs:crd after changing crds/inferencecascade.yaml)', () => {
    const readme = readFileSync(README_FILE, 'utf8');
    assert.equal(withReference(readme, crdReference(readFileSync(CRD_FILE, 'utf8'))), readme);
  });

  it('lists every field with its type, default and rules', () => {
    const text = crdReference(readFileSync(CRD_FILE, 'utf8'));
    assert.match(text, /\| `spec\.cache\.maxEntries` \| integer \| `50000` \| must be between 1 and 10000000 \|/);
    assert.match(text, /\| `spec\.variants\[\]\.role` \| string \| required \| one of `quantized`, `pruned`, `distilled`, `full` \|/);
    assert.doesNotMatch(text, /`status/);
  });
});
