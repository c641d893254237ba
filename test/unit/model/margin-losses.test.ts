/** CosFace, ArcFace and the distillation loss on hand-computed cases. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { cosineDistillationLoss, marginSoftmaxLoss } from '../../../lib/model/losses';
import { cosineClassifier } from '../../../lib/model/layers';

const close = (got: number, want: number, tol = 1e-5) => assert.ok(Math.abs(got - want) < tol, `${got} vs ${want}`);
/** Cross-entropy of a row of logits for class k, computed by hand. */
const ce = (logits: number[], k: number) => Math.log(logits.reduce((s, z) => s + Math.exp(z), 0)) - logits[k];

const COS = [
  [0.8, 0.1, -0.3],
  [0.2, 0.6, 0.1],
  [-0.95, 0.4, 0.0],
];
const CLASSES = [0, 1, 0];

test('CosFace: the target logit is s * (cos - m), the others s * cos; mean cross-entropy', () => {
  const s = 2;
  const m = 0.3;
  const want = COS.map((row, i) => ce(row.map((c, j) => s * (j === CLASSES[i] ? c - m : c)), CLASSES[i]));
  const got = marginSoftmaxLoss(tf.tensor2d(COS), tf.tensor1d(CLASSES, 'int32'), { kind: 'cosface', scale: s, margin: m }).dataSync()[0];
  close(got, want.reduce((a, b) => a + b) / want.length);
  // First row worked by hand: logits [1.0, 0.2, -0.6].
  close(want[0], Math.log(Math.exp(1) + Math.exp(0.2) + Math.exp(-0.6)) - 1);
  // m = 0 is the plain scaled softmax cross-entropy.
  const plain = COS.map((row, i) => ce(row.map((c) => s * c), CLASSES[i]));
  close(marginSoftmaxLoss(tf.tensor2d(COS), tf.tensor1d(CLASSES, 'int32'), { kind: 'cosface', scale: s, margin: 0 }).dataSync()[0], plain.reduce((a, b) => a + b) / 3);
});

test('ArcFace: the target logit is s * cos(theta + m), falling back to cos - m sin(m) past pi - m', () => {
  const s = 2;
  const m = 0.5;
  const target = (c: number) => (c > Math.cos(Math.PI - m) ? Math.cos(Math.acos(c) + m) : c - Math.sin(Math.PI - m) * m);
  // Row 0: theta = acos(0.8) = 0.6435 -> cos(1.1435) = 0.41440; row 2 (cos -0.95 < cos(pi - 0.5) = -0.8776) takes the fallback.
  close(target(0.8), 0.8 * Math.cos(0.5) - 0.6 * Math.sin(0.5));
  close(target(0.8), 0.4144, 1e-4);
  close(target(-0.95), -0.95 - Math.sin(0.5) * 0.5);
  const want = COS.map((row, i) => ce(row.map((c, j) => s * (j === CLASSES[i] ? target(c) : c)), CLASSES[i]));
  const got = marginSoftmaxLoss(tf.tensor2d(COS), tf.tensor1d(CLASSES, 'int32'), { kind: 'arcface', scale: s, margin: m }).dataSync()[0];
  close(got, want.reduce((a, b) => a + b) / want.length);
});

test('a margin makes the loss larger than without it, and its gradient pulls the target cosine up', () => {
  const cos = tf.variable(tf.tensor2d([[0.3, 0.2]]));
  const classes = tf.tensor1d([0], 'int32');
  for (const kind of ['cosface', 'arcface'] as const) {
    const opts = { kind, scale: 16, margin: kind === 'cosface' ? 0.35 : 0.5 };
    const withMargin = marginSoftmaxLoss(cos, classes, opts).dataSync()[0];
    const without = marginSoftmaxLoss(cos, classes, { ...opts, margin: 0 }).dataSync()[0];
    assert.ok(withMargin > without, `${kind}: ${withMargin} > ${without}`);
    const g = tf.grad((c: tf.Tensor) => marginSoftmaxLoss(c as tf.Tensor2D, classes, opts))(cos).dataSync();
    assert.ok(g[0] < 0 && g[1] > 0, `${kind}: descending raises the target cosine and lowers the other (${g})`);
  }
  assert.throws(() => marginSoftmaxLoss(tf.tensor2d([[0.1, 0.2]]), tf.tensor1d([0, 1], 'int32'), { kind: 'cosface', scale: 64, margin: 0.35 }), /2 labels for 1 rows/);
});

test('distillation: mean of 1 - cosine after normalising both sides', () => {
  const student = tf.tensor2d([
    [1, 0],
    [0, 2],
    [3, 4],
  ]);
  const teacher = tf.tensor2d([
    [5, 0],
    [1, 1],
    [-3, -4],
  ]);
  // cosines 1, 1/sqrt(2), -1 -> losses 0, 0.29289, 2
  close(cosineDistillationLoss(student, teacher).dataSync()[0], (0 + (1 - Math.SQRT1_2) + 2) / 3);
  assert.throws(() => cosineDistillationLoss(student, tf.zeros([3, 3]) as tf.Tensor2D), /differ/);
});

test('the class-centre layer gives cosines in [-1, 1] whatever the scale of its inputs and centres', () => {
  const input = tf.input({ shape: [4] });
  const layer = cosineClassifier({ classes: 3, name: 'centres' });
  const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
  layer.setWeights([tf.tensor2d([[2, 0, 0], [0, 3, 0], [0, 0, 0.5], [0, 0, 0]])]);
  const out = (model.predict(tf.tensor2d([[10, 0, 0, 0], [0, 0, 0, 7], [1, 1, 0, 0]])) as tf.Tensor).arraySync() as number[][];
  [[1, 0, 0], [0, 0, 0], [Math.SQRT1_2, Math.SQRT1_2, 0]].forEach((row, i) => row.forEach((v, j) => close(out[i][j], v)));
});
