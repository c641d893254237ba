/**
 * The training step on the backend in use (wasm here, whatever selectBackend picks elsewhere): a
 * tiny tower through the same code, forward + backward + Adam. Also: resuming from serialised
 * weights and Adam state continues bit-identically, and phase 1 leaves the backbone untouched.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildEmbeddingTower, setBackboneTrainable } from '../../../lib/model/tower';
import { selectBackend } from '../../../lib/model/backend';
import { serializeTensors, deserializeTensors, serializeWeights, restoreWeights } from '../../../lib/model/io';
import { adamState, restoreAdamState } from '../../../lib/train/checkpoint';
import { contrastiveObjective, setLearningRate, siameseLoss, trainStep, trainableVariables } from '../../../lib/train/siamese-step';

const TINY = { inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [16, 16] as [number, number], embeddingDim: 8 };
const B = 4;

before(async () => {
  await selectBackend(process.env.SIAMFACE_TF_BACKEND ? 'auto' : 'wasm', { log: () => undefined });
});

/** A fixed batch: pairs 0,1 same (b = a + small noise), pairs 2,3 different. */
function batch(seed: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  return tf.tidy(() => {
    const a = tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
    const other = tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', seed + 1) as tf.Tensor4D;
    const labels = tf.tensor1d([1, 1, 0, 0]);
    const mask = labels.reshape([B, 1, 1, 1]);
    const b = tf.add(tf.mul(mask, tf.add(a, tf.mul(0.05, other))), tf.mul(tf.sub(1, mask), other)) as tf.Tensor4D;
    return { images: tf.concat([a, b], 0), labels };
  });
}

function freshTower(): tf.LayersModel {
  // Same initial weights every time: the initialisers are random, so copy from a reference.
  return buildEmbeddingTower(TINY, { seed: 17 });
}

test('forward and backward on the tiny tower lower the contrastive loss and leak no tensors', () => {
  const model = freshTower();
  const { images, labels } = batch(3);
  const opt = tf.train.adam(1e-2);
  const { variables } = trainableVariables(model);
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  for (let i = 0; i < 8; i++) losses.push(trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1.0)));
  assert.ok(losses.every(Number.isFinite), `finite losses: ${losses}`);
  assert.ok(losses[7] < losses[0], `loss went down: ${losses[0]} -> ${losses[7]}`);
  // Adam creates its moments on the first step; after that the count must stay flat.
  const afterFirst = tf.memory().numTensors;
  trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1.0));
  assert.equal(tf.memory().numTensors, afterFirst, 'no tensors leaked per step');
  assert.ok(afterFirst >= before);
  opt.dispose();
  model.dispose();
  tf.dispose([images, labels]);
});

test('phase 1 (backbone frozen) changes head weights only, BN statistics included', () => {
  const model = freshTower();
  setBackboneTrainable(model, false);
  const snapshot = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync().slice()]));
  const { images, labels } = batch(5);
  const opt = tf.train.adam(1e-2);
  const { variables, names } = trainableVariables(model);
  assert.ok(names.every((n) => n.startsWith('head_')), `only head variables trainable: ${names.filter((n) => !n.startsWith('head_'))}`);
  trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1.0));
  for (const w of model.weights) {
    const same = tf.util.arraysEqual(Array.from(w.read().dataSync()), Array.from(snapshot.get(w.originalName)!));
    if (w.originalName.startsWith('head_')) continue;
    assert.ok(same, `backbone weight ${w.originalName} unchanged`);
  }
  const headKernel = model.getLayer('head_dense1').getWeights()[0].dataSync();
  assert.notDeepEqual(Array.from(headKernel), Array.from(snapshot.get('head_dense1/kernel')!), 'head weights moved');
  opt.dispose();
  model.dispose();
  tf.dispose([images, labels]);
});

test('resuming from serialised weights and Adam state continues bit-identically', async () => {
  const lrs = [3e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4];
  const batches = [batch(11), batch(13), batch(17)];
  const run = (model: tf.LayersModel, opt: tf.AdamOptimizer, from: number, to: number) => {
    const { variables } = trainableVariables(model);
    for (let s = from; s < to; s++) {
      setLearningRate(opt, lrs[s]);
      const { images, labels } = batches[s % batches.length];
      trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1.0));
    }
  };
  // Uninterrupted: 6 steps.
  const a = freshTower();
  const init = await serializeWeights(a);
  const optA = tf.train.adam(lrs[0]);
  run(a, optA, 0, 6);
  const finalA = await serializeWeights(a);

  // Interrupted after 3 steps: save, then restore into a new model and a new optimizer.
  const b = freshTower();
  restoreWeights(b, init.specs, init.data);
  const optB = tf.train.adam(lrs[0]);
  run(b, optB, 0, 3);
  const w = await serializeWeights(b);
  const o = await serializeTensors(await adamState(optB));
  optB.dispose();
  b.dispose();

  const c = freshTower();
  restoreWeights(c, w.specs, w.data);
  const optC = tf.train.adam(lrs[0]);
  const state = deserializeTensors(o.specs, o.data);
  await restoreAdamState(optC, state);
  tf.dispose(state.map((s) => s.tensor));
  const roundTrip = await serializeTensors(await adamState(optC));
  assert.ok(roundTrip.data.equals(o.data), 'optimizer state round trip is bit-exact');
  assert.deepEqual(roundTrip.specs.map((s) => s.shape), o.specs.map((s) => s.shape));
  run(c, optC, 3, 6);
  const finalC = await serializeWeights(c);
  assert.ok(finalC.data.equals(finalA.data), 'weights after resume equal the uninterrupted run bit for bit');
  optA.dispose();
  optC.dispose();
  a.dispose();
  c.dispose();
  tf.dispose(batches.flatMap((x) => [x.images, x.labels]));
});

test('siameseLoss shares one tower: identical a and b images give the minimum same-pair loss', () => {
  const model = freshTower();
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const images = tf.concat([x, x], 0);
  const loss = siameseLoss(model, images, tf.tensor1d([1, 1]), 1.0, false);
  assert.ok(loss.dataSync()[0] < 1e-6, `same images, same tower -> distance ~0, loss ${loss.dataSync()[0]}`);
  tf.dispose([x, images, loss]);
  model.dispose();
});

test('initial weights are a function of the run seed', async () => {
  const build = (seed: string) => buildEmbeddingTower(TINY, { seed });
  const [a, b, c] = [build('1'), build('1'), build('2')];
  const [wa, wb, wc] = await Promise.all([a, b, c].map((m) => serializeWeights(m)));
  assert.ok(wa.data.equals(wb.data));
  assert.ok(!wa.data.equals(wc.data));
  const r = Math.random();
  assert.ok(r >= 0 && r < 1 && Math.random() !== r, 'Math.random restored');
  [a, b, c].forEach((m) => m.dispose());
});
