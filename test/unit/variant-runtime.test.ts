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
    // The typings describe a factory; at run time it is the class every session is made from.
    const sessions = (ort.InferenceSession as unknown as { prototype: { release(this: ort.InferenceSession): Promise<void> } }).prototype;
    const release = sessions.release;
    let released = 0;
    sessions.release = function (this: ort.InferenceSession) {
      released += 1;
      return release.call(this);
    };
    try {
      await assert.rejects(loadVariant(folder, { device: 'cpu' }), (e: unknown) => e instanceof ModelLoadError && /head takes 32 inputs but the encoder gives 16/.test(e.message));
    } finally {
      sessions.release = release;
    }
    assert.equal(released, 2, 'the encoder and head sessions opened for the check');
  });
});
