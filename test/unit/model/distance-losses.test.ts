import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { euclideanDistance, euclideanDistanceOf } from '../../../lib/model/distance';
import { contrastiveLoss } from '../../../lib/model/losses';

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('euclidean distance row by row, tensor and plain forms agree', () => {
  const a = tf.tensor2d([[0, 0], [1, 2], [3, 4]]);
  const b = tf.tensor2d([[3, 4], [1, 2], [0, 0]]);
  const d = euclideanDistance(a, b).arraySync();
  close(d[0], 5);
  close(d[1], 0, 1e-5);
  close(d[2], 5);
  assert.equal(euclideanDistanceOf([0, 0], [3, 4]), 5);
  assert.throws(() => euclideanDistanceOf([1], [1, 2]), /different lengths/);
  assert.throws(() => euclideanDistance(a, tf.zeros([3, 3]) as tf.Tensor2D), /shapes differ/);
  // Finite gradient even at distance zero.
  const g = tf.grad((x: tf.Tensor) => euclideanDistance(x as tf.Tensor2D, tf.tensor2d([[1, 2]])).sum())(tf.tensor2d([[1, 2]]));
  assert.ok(g.dataSync().every(Number.isFinite));
});

test('contrastive loss: 0.5 * mean of y*d^2 + (1-y)*max(0, m-d)^2', () => {
  // same pair at d=0.5 -> 0.25; different at d=0.3 (m=1) -> 0.49; different beyond margin d=1.5 -> 0;
  // same at d=2 -> 4. Mean = (0.25 + 0.49 + 0 + 4) / 4 = 1.185, halved = 0.5925.
  const labels = tf.tensor1d([1, 0, 0, 1]);
  const d = tf.tensor1d([0.5, 0.3, 1.5, 2]);
  close(contrastiveLoss(labels, d, 1).dataSync()[0], 0.5925);
  // margin 2: different pairs contribute (1.7^2 + 0.5^2) = 2.89 + 0.25 -> (0.25 + 2.89 + 0.25 + 4)/8
  close(contrastiveLoss(labels, d, 2).dataSync()[0], (0.25 + 2.89 + 0.25 + 4) / 8);
  // Gradient pushes same pairs together (d/dd of 0.5*d^2/4 = d/4) and different pairs apart.
  const g = tf.grad((x: tf.Tensor) => contrastiveLoss(labels, x as tf.Tensor1D, 1))(d).arraySync() as number[];
  close(g[0], 0.5 / 4);
  close(g[1], -(1 - 0.3) / 4);
  close(g[2], 0);
  assert.throws(() => contrastiveLoss(labels, tf.tensor1d([1]), 1), /4 labels for 1 distances/);
  assert.throws(() => contrastiveLoss(labels, d, 0), /margin/);
});
