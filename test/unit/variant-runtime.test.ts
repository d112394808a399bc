import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelLoadError, loadVariant } from '../../variant-server/runtime.js';

describe('variant runtime loading', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'variant-runtime-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a head that does not fit its encoder is refused, and both sessions are released', async () => {
    const folder = join(dir, 'mismatched');
    mkdirSync(folder);
    copyFileSync('models/sessions-32/distilled/encoder.onnx', join(folder, 'encoder.onnx'));
    copyFileSync('models/digits/distilled/head.onnx', join(folder, 'head.onnx'));
    const release = ort.InferenceSession.prototype.release;
    let released = 0;
    ort.InferenceSession.prototype.release = function (this: ort.InferenceSession) {
      released += 1;
      return release.call(this);
    };
    try {
      await assert.rejects(loadVariant(folder, { device: 'cpu' }), (e: unknown) => e instanceof ModelLoadError && /head takes 32 inputs but the encoder gives 16/.test(e.message));
    } finally {
      ort.InferenceSession.prototype.release = release;
    }
    assert.equal(released, 2, 'the encoder and head sessions opened for the check');
  });
});
