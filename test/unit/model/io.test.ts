import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { loadModelFromDir, restoreWeights, saveModelToDir, serializeTensors, deserializeTensors, serializeWeights, MODEL_JSON, WEIGHTS_BIN } from '../../../lib/model/io';
import { SiamfaceError } from '../../../lib/errors';

const TINY = { inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [16, 8] as [number, number], embeddingDim: 4 };

function weightBytes(model: tf.LayersModel): Buffer[] {
  return model.weights.map((w) => Buffer.from((w.read().dataSync() as Float32Array).buffer.slice(0)));
}

/** Non-default BN statistics, so a round trip that dropped non-trainable weights would show. */
function perturb(model: tf.LayersModel): void {
  model.weights.forEach((w, i) => {
    if (/moving_(mean|variance)/.test(w.originalName)) tf.tidy(() => {
      w.write(tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 100 + i));
    });
  });
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-model-io-'));

test('serializeWeights/restoreWeights round trip is bit-exact, including BN statistics', async () => {
  const a = buildEmbeddingTower(TINY, { seed: 4 });
  perturb(a);
  const { specs, data } = await serializeWeights(a);
  assert.equal(data.length, a.countParams() * 4);
  const b = buildEmbeddingTower(TINY, { seed: 5 }); // different random init
  assert.notDeepEqual(weightBytes(b), weightBytes(a));
  restoreWeights(b, specs, data);
  const wa = weightBytes(a);
  const wb = weightBytes(b);
  assert.equal(wa.length, wb.length);
  wa.forEach((buf, i) => assert.ok(buf.equals(wb[i]), `weight ${a.weights[i].originalName} identical`));
  assert.ok(specs.some((s) => s.name === 'conv1/bn/moving_mean'), 'names are layer-scoped and stable');
  a.dispose();
  b.dispose();
});

test('restoreWeights refuses a checkpoint of another architecture, naming the weight', async () => {
  const a = buildEmbeddingTower(TINY, { seed: 6 });
  const { specs, data } = await serializeWeights(a);
  const wider = buildEmbeddingTower({ ...TINY, embeddingDim: 6 }, { seed: 7 });
  const before = weightBytes(wider);
  assert.throws(() => restoreWeights(wider, specs, data), (e: unknown) => e instanceof SiamfaceError && /head_embedding\/kernel/.test(e.message) && /\[8,4\]/.test(e.message));
  weightBytes(wider).forEach((buf, i) => assert.ok(buf.equals(before[i]), 'nothing written on failure'));
  a.dispose();
  wider.dispose();
});

test('named tensors (e.g. optimizer state) round trip exactly, int32 included', async () => {
  const named = [
    { name: 'opt/iter', tensor: tf.scalar(7, 'int32') },
    { name: 'opt/m', tensor: tf.tensor2d([[1.5, -2.25e-20], [3.4e38, Number.MIN_VALUE]]) },
  ];
  const { specs, data } = await serializeTensors(named);
  const back = deserializeTensors(specs, data);
  assert.deepEqual(back.map((t) => t.name), ['opt/iter', 'opt/m']);
  assert.equal(back[0].tensor.dtype, 'int32');
  assert.equal(back[0].tensor.dataSync()[0], 7);
  assert.ok(Buffer.from(back[1].tensor.dataSync().buffer).equals(Buffer.from(named[1].tensor.dataSync().buffer)));
  await assert.rejects(serializeTensors([named[0], named[0]]), /duplicate tensor name 'opt\/iter'/);
});

test('a tower saved to a folder loads back (custom layers included) with identical weights and outputs', async () => {
  const dir = tmp();
  const model = buildEmbeddingTower(TINY, { seed: 8 });
  perturb(model);
  await saveModelToDir(model, dir, { metadata: { config: TINY } });
  assert.ok(fs.existsSync(path.join(dir, MODEL_JSON)) && fs.existsSync(path.join(dir, WEIGHTS_BIN)));
  const json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_JSON), 'utf8'));
  assert.deepEqual(json.userDefinedMetadata.config.blocks, [1, 1]);
  const loaded = await loadModelFromDir(dir);
  assert.equal(loaded.getLayer('head_l2norm').getClassName(), 'L2Normalize');
  assert.equal(loaded.getLayer('conv1/bn').getClassName(), 'FreezableBatchNormalization');
  const wa = weightBytes(model);
  weightBytes(loaded).forEach((buf, i) => assert.ok(buf.equals(wa[i]), `weight ${i} identical`));
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3);
  const ya = (model.predict(x) as tf.Tensor).dataSync();
  const yb = (loaded.predict(x) as tf.Tensor).dataSync();
  assert.ok(Buffer.from(ya.buffer).equals(Buffer.from(yb.buffer)), 'bit-identical outputs');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('loading from a folder without a model, or with a truncated weights file, fails clearly', async () => {
  const dir = tmp();
  await assert.rejects(loadModelFromDir(dir), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found' && e.message.includes(dir));
  const model = buildEmbeddingTower(TINY, { seed: 10 });
  await saveModelToDir(model, dir);
  const bin = path.join(dir, WEIGHTS_BIN);
  fs.truncateSync(bin, fs.statSync(bin).size - 4);
  await assert.rejects(loadModelFromDir(dir), /weights.bin has \d+ bytes but model.json describes \d+/);
  fs.rmSync(dir, { recursive: true, force: true });
});
