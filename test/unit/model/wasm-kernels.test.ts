/**
 * The wasm backend lacks Conv2DBackpropFilter; ours must equal the cpu backend's gradient, and a
 * tiny tower must train on wasm.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../lib/model/backend';
import { conv2dBackpropFilterFromOps } from '../../../lib/model/wasm-kernels';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { euclideanDistance } from '../../../lib/model/distance';
import { contrastiveLoss } from '../../../lib/model/losses';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case { x: [number, number, number, number]; f: [number, number, number, number]; strides: [number, number]; pad: Pad }

const CASES: Case[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 5], strides: [1, 1], pad: 'same' },
  { x: [2, 9, 8, 3], f: [3, 3, 3, 4], strides: [2, 2], pad: 'same' },
  { x: [1, 10, 11, 2], f: [3, 2, 2, 3], strides: [2, 1], pad: 'valid' },
  { x: [3, 12, 12, 3], f: [7, 7, 3, 4], strides: [2, 2], pad: 'valid' },
  { x: [2, 6, 6, 8], f: [1, 1, 8, 4], strides: [1, 1], pad: 'valid' },
  { x: [2, 7, 7, 2], f: [3, 3, 2, 2], strides: [1, 1], pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [1, 8, 8, 2], f: [3, 3, 2, 3], strides: [3, 3], pad: 'same' },
];

function filterGradient(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.randomNormal(c.x, 0, 1, 'float32', seed);
    const f = tf.randomNormal(c.f, 0, 1, 'float32', seed + 1);
    const probe = tf.randomNormal((tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad)).shape, 0, 1, 'float32', seed + 2);
    const g = tf.grad((ff: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, c.strides, c.pad), probe)))(f);
    return g.dataSync() as Float32Array;
  });
}

before(async () => {
  await selectBackend('wasm', { log: () => undefined, env: {} });
});

test('wasm Conv2DBackpropFilter equals the cpu backend within 1e-4 (strides, same/valid/explicit pads)', async () => {
  for (const [i, c] of CASES.entries()) {
    await tf.setBackend('cpu');
    const want = filterGradient(c, 10 * i + 1); // seed 0 would mean 'unseeded'
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const got = filterGradient(c, 10 * i + 1);
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked by the kernel');
    assert.equal(got.length, want.length);
    let maxDiff = 0;
    for (let k = 0; k < got.length; k++) maxDiff = Math.max(maxDiff, Math.abs(got[k] - want[k]));
    assert.ok(maxDiff < 1e-4, `case ${i} ${JSON.stringify(c)}: max diff ${maxDiff}`);
  }
});

test('a tiny Siamese tower trains on wasm: one step lowers the contrastive loss on its batch', () => {
  assert.equal(tf.getBackend(), 'wasm');
  const model = buildEmbeddingTower({ inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [16, 8], embeddingDim: 4 }, { seed: 14 });
  const a = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1);
  const b = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 2);
  const labels = tf.tensor1d([1, 0, 1, 0]);
  const lossOf = (training: boolean) => {
    const ea = model.apply(a, { training }) as tf.Tensor2D;
    const eb = model.apply(b, { training }) as tf.Tensor2D;
    return contrastiveLoss(labels, euclideanDistance(ea, eb), 1);
  };
  // A step small enough that the first-order decrease dominates (at 1e-3 the loss rose for 2 of 10 seeds
  // on both wasm and cpu: the L2-normalised 4-d embedding makes the surface sharp); the seed fixes the case.
  const opt = tf.train.sgd(1e-4);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const convKernel = model.getLayer('conv1/conv').getWeights()[0].dataSync().slice();
  // Training-mode loss (batch statistics) is the function the step descends.
  const before = tf.tidy(() => lossOf(true).dataSync()[0]);
  const tensorsBefore = tf.memory().numTensors;
  const cost = opt.minimize(() => lossOf(true), true, vars);
  cost?.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore, 'a training step leaks no tensors');
  const after = tf.tidy(() => lossOf(true).dataSync()[0]);
  assert.notDeepEqual(model.getLayer('conv1/conv').getWeights()[0].dataSync().slice(), convKernel, 'backbone conv weights moved');
  assert.ok(Number.isFinite(after) && after < before, `loss ${before} -> ${after}`);
  tf.dispose([a, b, labels]);
  model.dispose();
});

test('large inputs are processed in batch chunks with the same result', () => {
  const x = tf.randomNormal([5, 8, 8, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const dy = tf.randomNormal([5, 4, 4, 6], 0, 1, 'float32', 8) as tf.Tensor4D;
  const attrs = { strides: [2, 2] as [number, number], pad: 'same' as const, filterShape: [3, 3, 3, 6] as [number, number, number, number] };
  const whole = conv2dBackpropFilterFromOps(x, dy, attrs).dataSync();
  // 4x4 outputs x 27 columns = 432 floats per image: a limit of 900 gives chunks of 2, 2, 1 images.
  const chunked = conv2dBackpropFilterFromOps(x, dy, attrs, 900).dataSync();
  let maxDiff = 0;
  for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i] - chunked[i]));
  assert.ok(maxDiff < 1e-4, `max diff ${maxDiff}`);
  tf.dispose([x, dy]);
});
