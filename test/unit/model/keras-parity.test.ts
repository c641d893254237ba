/**
 * Parity with Keras: a tiny DenseNet built by Keras's own densenet code (fixture made by
 * test/fixtures/model/make_keras_fixture.py) must give the same outputs here, after loading its
 * .h5 weights by layer name and applying our preprocessing to the same uint8 images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet } from '../../../lib/model/densenet';
import { loadKerasWeights } from '../../../lib/model/keras-weights';
import { IMAGENET_NORMALIZATION, preprocessImages } from '../../../lib/model/preprocess';
import { selectBackend } from '../../../lib/model/backend';

const FIXTURE = path.resolve(__dirname, '../../../../test/fixtures/model/tiny');

interface Meta {
  blocks: number[];
  inputSize: number;
  numImages: number;
  outputShape: number[];
  params: number;
  preprocessedFirstPixels: number[][];
}

/** The integer image formula of make_keras_fixture.py (fixture_images). */
function fixtureImages(n: number, size: number): tf.Tensor4D {
  const data = new Uint8Array(n * size * size * 3);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let h = 0; h < size; h++)
      for (let w = 0; w < size; w++)
        for (let c = 0; c < 3; c++) data[i++] = (b * 97 + h * 13 + w * 7 + c * 101 + ((h * w) % 17)) % 256;
  return tf.tensor4d(data, [n, size, size, 3], 'int32');
}

const meta = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'meta.json'), 'utf8')) as Meta;
const expected = new Float32Array(new Uint8Array(fs.readFileSync(path.join(FIXTURE, 'outputs.bin'))).buffer);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function nativeAvailable(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

// Native TensorFlow (tfjs-node) too where it is installed.
const BACKENDS = nativeAvailable() ? (['cpu', 'wasm', 'tensorflow'] as const) : (['cpu', 'wasm'] as const);

for (const backend of BACKENDS) {
  test(`tiny DenseNet with Keras weights matches Keras outputs within 1e-4 (${backend})`, async () => {
    const sel = await selectBackend(backend, { log: () => undefined, env: {} });
    assert.equal(sel.backend, backend);
    const model = buildDenseNet({ blocks: meta.blocks, inputSize: meta.inputSize });
    assert.equal(model.countParams(), meta.params, 'parameter count equals Keras count_params()');
    const report = await loadKerasWeights(model, path.join(FIXTURE, 'weights.h5'), { requireAllModelLayers: true });
    assert.equal(report.notInFile.length, 0);
    assert.equal(report.values, meta.params);
    const images = fixtureImages(meta.numImages, meta.inputSize);
    const x = preprocessImages(images, IMAGENET_NORMALIZATION);
    const firstPixels = (await x.slice([0, 0, 0, 0], [1, 1, 4, 3]).reshape([4, 3]).array()) as number[][];
    assert.ok(maxAbsDiff(firstPixels.flat(), meta.preprocessedFirstPixels.flat()) < 1e-6, 'preprocessing equals Keras preprocess_input');
    const y = model.predict(x) as tf.Tensor;
    assert.deepEqual(y.shape, meta.outputShape);
    const diff = maxAbsDiff(await y.data(), expected);
    const scale = maxAbsDiff(expected, new Float32Array(expected.length));
    console.log(`keras parity tiny (${backend}): max abs diff ${diff.toExponential(2)} (outputs up to ${scale.toFixed(2)})`);
    assert.ok(scale > 0.1, 'fixture outputs are not trivially zero');
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    tf.dispose([images, x, y]);
    model.dispose();
  });
}
