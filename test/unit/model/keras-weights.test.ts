import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet } from '../../../lib/model/densenet';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { loadKerasWeights, readKerasH5, resolveImagenetWeights } from '../../../lib/model/keras-weights';
import { SiamfaceError } from '../../../lib/errors';
import type { ObjectStore } from '../../../lib/storage/object-store';
import { loadInputPolicy } from '../../../lib/security/input-policy';

const TINY_H5 = path.resolve(__dirname, '../../../../test/fixtures/model/tiny/weights.h5');
const TINY = { blocks: [1, 2], inputSize: 40 };

const isBadInput = (re: RegExp) => (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && re.test(e.message);

/** Writes layers in the Keras legacy HDF5 layout with h5wasm (weights nested under their names). */
async function writeKerasH5(file: string, layers: { name: string; weights: { name: string; shape: number[]; data: Float32Array }[] }[]): Promise<void> {
  const h5 = await import('h5wasm/node');
  await h5.ready;
  const f = new h5.File(file, 'w');
  f.create_attribute('layer_names', layers.map((l) => l.name));
  for (const layer of layers) {
    const g = f.create_group(layer.name);
    g.create_attribute('weight_names', layer.weights.map((w) => w.name));
    for (const w of layer.weights) {
      const parts = w.name.split('/');
      let parent = g;
      for (const p of parts.slice(0, -1)) parent = parent.keys().includes(p) ? (parent.get(p) as typeof g) : parent.create_group(p);
      parent.create_dataset({ name: parts[parts.length - 1], data: w.data, shape: w.shape, dtype: '<f' });
    }
  }
  f.close();
}

test('the Keras fixture loads into a tower: backbone by name, head reported as not in the file', async () => {
  const model = buildEmbeddingTower({ ...TINY, headUnits: [8, 8], embeddingDim: 4 }, { seed: 11 });
  const report = await loadKerasWeights(model, TINY_H5);
  assert.deepEqual(report.notInFile, ['head_dense1', 'head_bn1', 'head_dense2', 'head_bn2', 'head_embedding']);
  assert.deepEqual(report.notInModel, []);
  assert.ok(report.loaded.includes('conv1/conv') && report.loaded.includes('conv3_block2_2_conv') && report.loaded.includes('bn'));
  const file = await readKerasH5(TINY_H5);
  const mean = file.get('conv2_block1_1_bn')!.find((w) => w.name.endsWith('moving_mean:0'))!;
  assert.deepEqual(Array.from(model.getLayer('conv2_block1_1_bn').getWeights()[2].dataSync()), Array.from(mean.data));
  await assert.rejects(loadKerasWeights(model, TINY_H5, { requireAllModelLayers: true }), isBadInput(/5 model layers have no weights in the file \(first: head_dense1/));
  model.dispose();
});

test('Keras 3 layer names (conv1_conv, no :0 suffix) load the same weights', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-h5-'));
  const file = path.join(dir, 'keras3.h5');
  const layers = [...(await readKerasH5(TINY_H5)).entries()].map(([name, weights]) => ({
    name: name.replace(/\//g, '_'),
    weights: weights.map((w) => ({ ...w, name: `${name.replace(/\//g, '_')}/${w.name.split('/').pop()!.replace(/:0$/, '')}` })),
  }));
  await writeKerasH5(file, layers);
  const a = buildDenseNet(TINY);
  const b = buildDenseNet(TINY);
  await loadKerasWeights(a, TINY_H5, { requireAllModelLayers: true });
  const report = await loadKerasWeights(b, file, { requireAllModelLayers: true });
  assert.ok(report.loaded.includes('conv1/bn'));
  a.weights.forEach((w, i) => assert.deepEqual(b.weights[i].read().dataSync(), w.read().dataSync(), w.originalName));
  fs.rmSync(dir, { recursive: true, force: true });
  a.dispose();
  b.dispose();
});

test('mismatched architectures fail before any weight changes, naming the layer', async () => {
  const narrow = buildDenseNet({ ...TINY, growthRate: 16 });
  const before = narrow.getLayer('conv1/conv').getWeights()[0].dataSync().slice();
  await assert.rejects(loadKerasWeights(narrow, TINY_H5), isBadInput(/layer 'conv2_block1_1_conv' weight 'kernel' has shape \[1,1,64,128\] but the model expects \[1,1,64,64\]/));
  assert.deepEqual(narrow.getLayer('conv1/conv').getWeights()[0].dataSync(), before, 'all-or-nothing');
  const shallow = buildDenseNet({ blocks: [1, 1], inputSize: 40, growthRate: 32 });
  await assert.rejects(loadKerasWeights(shallow, TINY_H5), isBadInput(/'bn'|conv3_block2/));
  narrow.dispose();
  shallow.dispose();
});

test('missing and non-HDF5 files give clear errors', async () => {
  const model = buildDenseNet(TINY);
  await assert.rejects(loadKerasWeights(model, '/nonexistent/w.h5'), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found' && e.message.includes('/nonexistent/w.h5'));
  const junk = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-h5-')), 'junk.h5');
  fs.writeFileSync(junk, 'not hdf5 at all');
  await assert.rejects(loadKerasWeights(model, junk), isBadInput(/not a readable HDF5 file/));
  // Local weights files are read only under the operator's dataset roots.
  const policy = loadInputPolicy({ SIAMFACE_DATASET_ROOTS: ['/nonexistent', path.dirname(TINY_H5)].join(path.delimiter) });
  const store = { bucket: 'b' } as ObjectStore;
  await assert.rejects(resolveImagenetWeights('/nonexistent/w.h5', store, 'cache/weights/k', { policy }), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found');
  assert.equal(await resolveImagenetWeights(TINY_H5, store, 'cache/weights/k', { policy }), TINY_H5, 'a local path is used in place');
  await assert.rejects(resolveImagenetWeights(TINY_H5, store, 'cache/weights/k'), (e: unknown) => e instanceof SiamfaceError && e.code === 'forbidden', 'outside the (default: no) dataset roots');
  model.dispose();
  tf.disposeVariables();
});
