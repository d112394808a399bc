import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkModelUri, modelUriPath, modelUriProblem } from '../../common/model-uri.js';
import { localModelPath } from '../../router-sidecar/local-models.js';
import { modelDirectory } from '../../variant-server/runtime.js';

// URL parsing resolves %2e%2e to '..': without the check this names /etc/passwd.
const ENCODED_TRAVERSAL = 'file:///models/%2e%2e/etc/passwd';

describe('model URIs', () => {
  it('accepts the schemes a cascade may use', () => {
    for (const uri of ['file:///models/sessions-32/full', 'file://localhost/models/x', 'https://host/m.onnx', 'http://h/m', 's3://b/k', 'gs://b/k', 'pvc://claim/models/x']) {
      assert.equal(modelUriProblem(uri), undefined, uri);
    }
  });

  it('names the problem with every way out of the model folder', () => {
    const cases: [string, RegExp][] = [
      ['ftp://h/m', /must be a file:\/\/, http:\/\/, https:\/\/, s3:\/\/, gs:\/\/, pvc:\/\/ URI/],
      ['/models/x', /must be a file:\/\//],
      ['file:///models/../etc/passwd', /'\.' or '\.\.' path segments/],
      ['file:///models/./x', /'\.' or '\.\.' path segments/],
      ['s3://bucket/a/../../b', /'\.' or '\.\.' path segments/],
      [ENCODED_TRAVERSAL, /percent-encode/],
      ['file:///models/%2E%2E/x', /percent-encode/],
      ['file:///models/a%2fb', /percent-encode/],
      ['file:///models/a%5c..', /percent-encode/],
      ['file:///models/a\\..\\b', /backslashes/],
      ['file://evil.example/models/x', /no host/],
      ['file:///models/a b', /spaces/],
    ];
    for (const [uri, problem] of cases) assert.match(modelUriProblem(uri) ?? 'accepted', problem, uri);
    assert.throws(() => checkModelUri(ENCODED_TRAVERSAL, 'spec.variants[0].model.uri'), /spec\.variants\[0\]\.model\.uri "file:\/\/\/models\/%2e%2e\/etc\/passwd": must not percent-encode/);
  });

  it('maps a checked file:// URI to its path', () => {
    assert.equal(modelUriPath('file:///models/sessions-32/full'), '/models/sessions-32/full');
    assert.equal(modelUriPath('file://localhost/models/x'), '/models/x');
    assert.throws(() => modelUriPath('s3://b/k'), /only file:\/\/ URIs name a local path/);
  });

  it('the variant server refuses a traversal instead of loading outside the model folder', () => {
    assert.throws(() => modelDirectory(ENCODED_TRAVERSAL), /must not percent-encode/);
    assert.throws(() => modelDirectory('file:///models/../etc'), /path segments/);
    assert.equal(modelDirectory('file:///models/sessions-32/full'), '/models/sessions-32/full');
  });

  it('the router never resolves a traversal, even one that would exist under its models root', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'models-'));
    mkdirSync(path.join(root, 'x'));
    assert.equal(localModelPath('file:///models/x', root), path.join(root, 'x'));
    assert.equal(localModelPath('file:///models/y/%2e%2e/x', root), undefined);
    assert.equal(localModelPath('file:///models/y/../x', root), undefined);
    assert.equal(localModelPath('/models/y/../x', root), undefined);
    assert.equal(localModelPath(ENCODED_TRAVERSAL, root), undefined);
  });
});
