import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { IMAGENET_NORMALIZATION as IMAGENET, checkNormalization, imagesToBatch, preprocessImages, preprocessRgbBytes } from '../../../lib/model/preprocess';
import { BACKBONES } from '../../../lib/model/backbones';

test('torch-mode preprocessing: /255, minus ImageNet mean, over ImageNet std', () => {
  const px = new Uint8Array([0, 128, 255, 255, 0, 51]);
  const out = preprocessRgbBytes(px, IMAGENET);
  const want = [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225, (1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225];
  want.forEach((w, i) => assert.ok(Math.abs(out[i] - w) < 1e-6, `value ${i}: ${out[i]} vs ${w}`));
  assert.ok(Math.abs(out[0] - -2.117904) < 1e-6);
  const t = preprocessImages(tf.tensor3d(px, [1, 2, 3], 'int32'), IMAGENET);
  assert.deepEqual(Array.from(t.dataSync()).map((v) => v.toFixed(5)), Array.from(out).map((v) => v.toFixed(5)));
  assert.throws(() => preprocessImages(tf.zeros([2, 2, 4]), IMAGENET), /3 channels/);
});

test('imagesToBatch stacks preprocessed images and checks their sizes', () => {
  const a = new Uint8Array(2 * 2 * 3).fill(255);
  const b = new Uint8Array(2 * 2 * 3).fill(0);
  const batch = imagesToBatch([a, b], 2, IMAGENET);
  assert.deepEqual(batch.shape, [2, 2, 2, 3]);
  const v = batch.arraySync();
  assert.ok(Math.abs(v[0][1][1][2] - (1 - 0.406) / 0.225) < 1e-6);
  assert.ok(Math.abs(v[1][0][0][0] - -0.485 / 0.229) < 1e-6);
  assert.throws(() => imagesToBatch([a, new Uint8Array(5)], 2, IMAGENET), /image 1 has 5 bytes, expected 12/);
});

test("faceres34's normalisation is face-api.js's: (x - mean_rgb) / 255", () => {
  const px = new Uint8Array([0, 128, 255, 122, 117, 104]);
  const out = preprocessRgbBytes(px, BACKBONES.faceres34.normalization);
  const mean = [122.782, 117.001, 104.298];
  Array.from(px).forEach((v, i) => assert.ok(Math.abs(out[i] - (v - mean[i % 3]) / 255) < 1e-6, `value ${i}`));
});

test('a normalisation from a model card is checked, naming where it came from', () => {
  assert.deepEqual(checkNormalization({ mean: [0.5, 0.5, 0.5], std: [1, 1, 1] }, 'card'), { mean: [0.5, 0.5, 0.5], std: [1, 1, 1] });
  for (const bad of [undefined, {}, { mean: [0, 0], std: [1, 1, 1] }, { mean: [0, 0, 0], std: [1, 0, 1] }, { mean: [0, 0, 'x'], std: [1, 1, 1] }]) {
    assert.throws(() => checkNormalization(bad, 's3://b/models/m/versions/1/model-card.json'), (e: Error & { code?: string }) => e.code === 'bad_input' && e.message.includes('model-card.json'));
  }
});
