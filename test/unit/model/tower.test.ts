import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildEmbeddingTower, resolveModelConfig, setBackboneTrainable, TOWER_LAYERS, DEFAULT_MODEL_CONFIG, countParams } from '../../../lib/model/tower';
import { SiamfaceError } from '../../../lib/errors';

const TINY = { inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [16, 8] as [number, number], embeddingDim: 4 };

test('the tower maps images to unit-length embeddings through named head layers', () => {
  const model = buildEmbeddingTower(TINY, { seed: 15 });
  const names = model.layers.map((l) => l.name);
  assert.deepEqual(names.slice(-9), Object.values(TOWER_LAYERS));
  assert.ok(names.includes('conv1/conv') && names.includes('pool2_pool'));
  const y = model.predict(tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 3)) as tf.Tensor2D;
  assert.deepEqual(y.shape, [3, 4]);
  const norms = tf.norm(y, 'euclidean', 1).arraySync() as number[];
  for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-5, `norm ${n}`);
  assert.equal(model.getLayer('head_act1').getConfig().alpha, DEFAULT_MODEL_CONFIG.leakyAlpha);
  assert.equal(countParams(model), model.countParams());
  tf.dispose(y);
  model.dispose();
});

test('model config: defaults merged, bad fields named', () => {
  const cfg = resolveModelConfig({ embeddingDim: 64 });
  assert.equal(cfg.embeddingDim, 64);
  assert.deepEqual(cfg.blocks, [6, 12, 24, 16]);
  const bad: [Record<string, unknown>, string][] = [
    [{ embeddingDim: 0 }, 'embeddingDim'],
    [{ headUnits: [8] }, 'headUnits'],
    [{ headUnits: [8, -1] }, 'headUnits[1]'],
    [{ leakyAlpha: 1.5 }, 'leakyAlpha'],
    [{ inputSize: 'big' }, 'inputSize'],
    [{ blocks: [1, 'x'] }, 'blocks[1]'],
    [{ embeddingSize: 3 }, 'embeddingSize'],
  ];
  for (const [partial, field] of bad) {
    assert.throws(
      () => resolveModelConfig(partial as never),
      (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && e.message.includes(field),
      `error names ${field}`,
    );
  }
});

test('freezing the backbone leaves only the head trainable and keeps its BN statistics fixed', () => {
  const model = buildEmbeddingTower(TINY, { seed: 16 });
  const all = model.trainableWeights.length;
  const headTrainable = model.layers.filter((l) => l.name.startsWith('head_')).reduce((n, l) => n + l.trainableWeights.length, 0);
  assert.ok(setBackboneTrainable(model, false) > 0);
  assert.equal(model.trainableWeights.length, headTrainable);
  assert.ok(model.trainableWeights.every((w) => w.originalName.startsWith('head_')));

  const bn = model.getLayer('conv1/bn');
  const movingMean = () => bn.getWeights()[2].dataSync().slice();
  const before = movingMean();
  const x = tf.randomNormal([4, 32, 32, 3], 3, 2, 'float32', 4);
  tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor);
  assert.deepEqual(movingMean(), before, 'frozen BN does not update moving stats in a training pass');
  // The head's BN still learns statistics.
  const headBefore = model.getLayer('head_bn1').getWeights()[2].dataSync().slice();
  tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor);
  assert.notDeepEqual(model.getLayer('head_bn1').getWeights()[2].dataSync().slice(), headBefore);

  assert.ok(setBackboneTrainable(model, true) > 0);
  assert.equal(model.trainableWeights.length, all);
  tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor);
  assert.notDeepEqual(movingMean(), before, 'unfrozen BN updates its moving stats');
  x.dispose();
  model.dispose();
});
