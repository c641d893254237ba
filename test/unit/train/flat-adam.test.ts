/**
 * FlatAdamOptimizer against tf.train.adam on the tiny tower (wasm here, or SIAMFACE_TF_BACKEND): the same weights to
 * the last bit after several steps, state that moves between the two optimizers through getWeights/setWeights (so
 * checkpoints of either restore into the other), no tensor leaks, and a clear error for a variable without a gradient.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { selectBackend } from '../../../lib/model/backend';
import { FlatAdamOptimizer } from '../../../lib/train/flat-adam';
import { adamState, restoreAdamState } from '../../../lib/train/checkpoint';
import { contrastiveObjective, setLearningRate, trainStep, trainableVariables } from '../../../lib/train/siamese-step';

const TINY = { inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [16, 16] as [number, number], embeddingDim: 8 };
const B = 4;

before(async () => {
  await selectBackend(process.env.SIAMFACE_TF_BACKEND ? 'auto' : 'wasm', { log: () => undefined });
});

function batch(seed: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  return tf.tidy(() => ({
    images: tf.randomNormal([2 * B, 32, 32, 3], 0, 1, 'float32', seed) as tf.Tensor4D,
    labels: tf.tensor1d([1, 0, 1, 0]),
  }));
}

/** Trains steps firstStep.. firstStep + steps - 1: each step's batch and learning rate (it changes per step, as the schedule's does) follow from its number. */
function train(model: tf.LayersModel, opt: tf.AdamOptimizer, steps: number, firstStep: number): void {
  const { variables } = trainableVariables(model);
  for (let step = firstStep; step < firstStep + steps; step++) {
    const b = batch(step);
    setLearningRate(opt, 1e-2 / (1 + (step % 100)));
    trainStep(model, opt, variables, b, contrastiveObjective(1.0));
    tf.dispose([b.images, b.labels]);
  }
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.weights.map((w) => w.read().dataSync() as Float32Array);
}

function assertSameBits(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(new Uint32Array(a[i].buffer, a[i].byteOffset, a[i].length), new Uint32Array(b[i].buffer, b[i].byteOffset, b[i].length), `${what}: weight ${i} differs`);
  }
}

test('FlatAdam gives tf.train.adam\'s weights to the last bit', () => {
  const reference = buildEmbeddingTower(TINY, { seed: 17 });
  const flat = buildEmbeddingTower(TINY, { seed: 17 });
  const refOpt = tf.train.adam(1e-2);
  const flatOpt = new FlatAdamOptimizer(1e-2);
  train(reference, refOpt, 5, 100);
  train(flat, flatOpt, 5, 100);
  const before = weightsOf(buildEmbeddingTower(TINY, { seed: 17 }));
  const after = weightsOf(flat);
  assert.ok(after.some((w, i) => w.some((x, j) => x !== before[i][j])), 'training changed the weights');
  assertSameBits(weightsOf(reference), after, 'after 5 steps');
  for (const o of [refOpt, flatOpt]) o.dispose();
  reference.dispose();
  flat.dispose();
});

/** A new tower with `from`'s weights: as a resumed process builds it, its variables have other names. */
function resumedCopy(from: tf.LayersModel): tf.LayersModel {
  const model = buildEmbeddingTower(TINY, { seed: 99 });
  model.setWeights(from.getWeights());
  return model;
}

test('Adam state moves between tf.train.adam and FlatAdam in both directions, into resumed models, and training continues bit-identically', async () => {
  // Uninterrupted reference: 6 steps with tf.train.adam.
  const reference = buildEmbeddingTower(TINY, { seed: 17 });
  const refOpt = tf.train.adam(1e-2);
  train(reference, refOpt, 6, 200);

  // tf.train.adam for 2 steps -> FlatAdam for 2 -> tf.train.adam for 2, handing the state over each time to a new
  // model instance (other variable names: the state is positional, as tf.train.adam's).
  const model = buildEmbeddingTower(TINY, { seed: 17 });
  const first = tf.train.adam(1e-2);
  train(model, first, 2, 200);
  // As checkpoints do: the state with the running beta powers (lib/train/checkpoint adamState / restoreAdamState).
  const second = new FlatAdamOptimizer(1e-2);
  await restoreAdamState(second, await adamState(first));
  const model2 = resumedCopy(model);
  assert.notEqual(trainableVariables(model2).variables[0].name, trainableVariables(model).variables[0].name, 'the resumed model has other variable names');
  train(model2, second, 2, 202);
  const third = tf.train.adam(1e-2);
  const handed = await adamState(second);
  const names = trainableVariables(model2).variables.map((v) => v.name);
  assert.deepEqual(handed.slice(0, -2).map((w) => w.name), ['iter', ...names.map((n) => `${n}/m`), ...names.map((n) => `${n}/v`)], "tf.train.adam's layout");
  await restoreAdamState(third, handed);
  const model3 = resumedCopy(model2);
  train(model3, third, 2, 204);
  assertSameBits(weightsOf(reference), weightsOf(model3), 'handed over twice');
  for (const o of [refOpt, first, second, third]) o.dispose();
  for (const m of [reference, model, model2, model3]) m.dispose();
});

test('FlatAdam refuses restored state that does not fit the variables, naming the first that differs', async () => {
  const small = buildEmbeddingTower(TINY, { seed: 17 });
  const opt = tf.train.adam(1e-2);
  train(small, opt, 1, 400);
  const flat = new FlatAdamOptimizer(1e-2);
  await restoreAdamState(flat, await adamState(opt));
  const other = buildEmbeddingTower({ ...TINY, embeddingDim: 4 }, { seed: 17 });
  assert.throws(() => train(other, flat, 1, 401), /restored state does not fit the variables .*is \[16,4\], the state has \[16,8\]/);
  for (const o of [opt, flat]) o.dispose();
  for (const m of [small, other]) m.dispose();
});

test('FlatAdam leaks no tensors per step and refuses a variable without a gradient, naming it', () => {
  const model = buildEmbeddingTower(TINY, { seed: 17 });
  const opt = new FlatAdamOptimizer(1e-2);
  train(model, opt, 1, 300);
  const count = tf.memory().numTensors;
  train(model, opt, 2, 301);
  assert.equal(tf.memory().numTensors, count, 'no tensors leaked per step');
  const v = model.trainableWeights[0];
  assert.throws(() => opt.applyGradients([{ name: v.name, tensor: null as unknown as tf.Tensor }]), new RegExp(`no gradient for ${v.name}`));
  opt.dispose();
  model.dispose();
});
