/**
 * One-off Keras parity check on a fixture made by test/fixtures/model/make_keras_fixture.py
 * (e.g. `full`: DenseNet121 with random Keras weights at 64 px, too big to commit).
 *   python test/fixtures/model/make_keras_fixture.py full /tmp/siamface-full-fixture
 *   node dist/bench/model/keras-parity.js /tmp/siamface-full-fixture [cpu|wasm]
 * Prints the max abs difference between Keras's and our outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet } from '../../lib/model/densenet';
import { loadKerasWeights } from '../../lib/model/keras-weights';
import { IMAGENET_NORMALIZATION, preprocessImages } from '../../lib/model/preprocess';
import { selectBackend, type BackendPreference } from '../../lib/model/backend';

async function main(): Promise<void> {
  const dir = process.argv[2];
  const backend = (process.argv[3] ?? 'wasm') as BackendPreference;
  if (!dir) throw new Error('usage: keras-parity.js FIXTURE_DIR [cpu|wasm]');
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { blocks: number[]; inputSize: number; numImages: number; outputShape: number[]; params: number };
  const expected = new Float32Array(new Uint8Array(fs.readFileSync(path.join(dir, 'outputs.bin'))).buffer);
  await selectBackend(backend, { log: () => undefined });
  const model = buildDenseNet({ blocks: meta.blocks, inputSize: meta.inputSize });
  const t0 = Date.now();
  const report = await loadKerasWeights(model, path.join(dir, 'weights.h5'), { requireAllModelLayers: true });
  const loadMs = Date.now() - t0;
  const { numImages: n, inputSize: s } = meta;
  const bytes = new Uint8Array(n * s * s * 3);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let h = 0; h < s; h++)
      for (let w = 0; w < s; w++)
        for (let c = 0; c < 3; c++) bytes[i++] = (b * 97 + h * 13 + w * 7 + c * 101 + ((h * w) % 17)) % 256;
  const x = preprocessImages(tf.tensor4d(bytes, [n, s, s, 3], 'int32'), IMAGENET_NORMALIZATION);
  const y = model.predict(x) as tf.Tensor;
  const got = await y.data();
  let maxDiff = 0;
  let maxAbs = 0;
  for (let j = 0; j < got.length; j++) {
    maxDiff = Math.max(maxDiff, Math.abs(got[j] - expected[j]));
    maxAbs = Math.max(maxAbs, Math.abs(expected[j]));
  }
  console.log(JSON.stringify({
    backend: tf.getBackend(), blocks: meta.blocks, inputSize: s, params: model.countParams(), kerasParams: meta.params,
    layersLoaded: report.loaded.length, valuesLoaded: report.values, loadMs, outputShape: y.shape, maxAbsDiff: maxDiff, maxAbsOutput: maxAbs,
  }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
