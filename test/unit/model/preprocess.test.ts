import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { imagesToBatch, preprocessImages, preprocessRgbBytes } from '../../../lib/model/preprocess';

test('torch-mode preprocessing: /255, minus ImageNet mean, over ImageNet std', () => {
  const px = new Uint8Array([0, 128, 255, 255, 0, 51]);
  const out = preprocessRgbBytes(px);
  const want = [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225, (1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225];
  want.forEach((w, i) => assert.ok(Math.abs(out[i] - w) < 1e-6, `value ${i}: ${out[i]} vs ${w}`));
  assert.ok(Math.abs(out[0] - -2.117904) < 1e-6);
  const t = preprocessImages(tf.tensor3d(px, [1, 2, 3], 'int32'));
  assert.deepEqual(Array.from(t.dataSync()).map((v) => v.toFixed(5)), Array.from(out).map((v) => v.toFixed(5)));
  assert.throws(() => preprocessImages(tf.zeros([2, 2, 4])), /3 channels/);
});

test('imagesToBatch stacks preprocessed images and checks their sizes', () => {
  const a = new Uint8Array(2 * 2 * 3).fill(255);
  const b = new Uint8Array(2 * 2 * 3).fill(0);
  const batch = imagesToBatch([a, b], 2);
  assert.deepEqual(batch.shape, [2, 2, 2, 3]);
  const v = batch.arraySync();
  assert.ok(Math.abs(v[0][1][1][2] - (1 - 0.406) / 0.225) < 1e-6);
  assert.ok(Math.abs(v[1][0][0][0] - -0.485 / 0.229) < 1e-6);
  assert.throws(() => imagesToBatch([a, new Uint8Array(5)], 2), /image 1 has 5 bytes, expected 12/);
});
