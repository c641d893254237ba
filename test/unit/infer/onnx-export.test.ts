import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { buildDenseNet } from '../../../lib/model/densenet';
import { channelScale, l2Normalize, zeroPadChannels } from '../../../lib/model/layers';
import { loadFaceApiWeights } from '../../../lib/model/face-api-weights';
import { withSeededMathRandom } from '../../../lib/model/seeded-init';
import { buildOnnxModel, exportToOnnx } from '../../../lib/infer/onnx-export';
import { decodeModel } from '../../../lib/infer/onnx-proto';
import { OnnxEngine, TfjsEngine, type EmbeddingEngine } from '../../../lib/infer/engine';

const quiet = () => {};

/** Random BN statistics and affine params, so folding and BN nodes are exercised on real numbers. */
function randomiseBatchNorms(model: tf.LayersModel, seed: number): void {
  for (const layer of model.layers) {
    if (!layer.getClassName().includes('BatchNormalization')) continue;
    layer.setWeights(
      layer.weights.map((w, i) => {
        const s = seed + i * 7919 + layer.name.length;
        if (w.originalName.endsWith('moving_variance')) return tf.randomUniform(w.shape as number[], 0.3, 2, 'float32', s);
        if (w.originalName.endsWith('gamma')) return tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', s);
        return tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', s);
      }),
    );
  }
}

function randomBatch(n: number, size: number, seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal([n, size, size, 3], 0, 1, 'float32', seed).dataSync() as Float32Array);
}

async function maxAbsDiff(a: EmbeddingEngine, b: EmbeddingEngine, batch: Float32Array, n: number): Promise<number> {
  const [ea, eb] = [await a.embed(batch, n), await b.embed(batch, n)];
  assert.equal(ea.length, n);
  let max = 0;
  ea.forEach((v, i) => {
    assert.equal(v.length, eb[i].length);
    v.forEach((x, j) => (max = Math.max(max, Math.abs(x - eb[i][j]))));
  });
  return max;
}

test('a tiny embedding tower exported to ONNX gives the tfjs embeddings (max abs diff < 1e-4)', async () => {
  const model = buildEmbeddingTower({ inputSize: 48, blocks: [2, 3, 2], growthRate: 8, headUnits: [32, 16], embeddingDim: 12 }, { seed: 19 });
  randomiseBatchNorms(model, 1);
  const onnx = await OnnxEngine.create(exportToOnnx(model), { threads: 1, log: quiet });
  const ref = new TfjsEngine(model);
  assert.equal(onnx.inputSize, 48);
  const n = 5;
  const batch = randomBatch(n, 48, 2);
  const diff = await maxAbsDiff(onnx, ref, batch, n);
  console.log(`tower parity: max abs diff ${diff.toExponential(2)} (${onnx.describe()} vs ${ref.describe()})`);
  assert.ok(diff < 1e-4, `max abs diff ${diff}`);
  for (const e of await onnx.embed(batch, n)) assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5, 'embeddings are unit length');
  await onnx.dispose();
  model.dispose();
});

test('BatchNormalization after a Conv2D/Dense is folded; pre-activation BNs stay', () => {
  const model = buildEmbeddingTower({ inputSize: 32, blocks: [1, 1], growthRate: 4, headUnits: [8, 8], embeddingDim: 4 }, { seed: 20 });
  const count = (fold: boolean) => buildOnnxModel(model, { foldBatchNorm: fold }).graph.node.filter((n) => n.opType === 'BatchNormalization').length;
  const bnLayers = model.layers.filter((l) => l.getClassName().includes('BatchNormalization')).length;
  assert.equal(count(false), bnLayers);
  // conv1/bn, each conv block's _1_bn, head_bn1 and head_bn2 follow a conv or dense directly.
  const foldable = model.layers.filter((l) => /(^conv1\/bn$|_1_bn$|^head_bn\d$)/.test(l.name)).length;
  assert.equal(count(true), bnLayers - foldable);
  model.dispose();
});

/** A model with one of every layer type the exporter supports. */
function everyLayerModel(): tf.LayersModel {
  const input = tf.input({ shape: [15, 13, 3] });
  const a = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv_bias_relu' }).apply(input) as tf.SymbolicTensor;
  let b = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }).apply(input) as tf.SymbolicTensor;
  b = tf.layers.conv2d({ filters: 5, kernelSize: [3, 2], strides: [2, 2], dilationRate: 1, padding: 'valid', useBias: false, name: 'conv_nobias' }).apply(b) as tf.SymbolicTensor;
  b = tf.layers.batchNormalization({ name: 'bn_folded' }).apply(b) as tf.SymbolicTensor;
  b = tf.layers.leakyReLU({ alpha: 0.1 }).apply(b) as tf.SymbolicTensor;
  b = tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }).apply(b) as tf.SymbolicTensor;
  b = tf.layers.conv2d({ filters: 6, kernelSize: 1, name: 'conv_match' }).apply(b) as tf.SymbolicTensor;
  let c = tf.layers.concatenate({ axis: -1 }).apply([a, tf.layers.reLU({ maxValue: 6 }).apply(b) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  c = tf.layers.batchNormalization({ name: 'bn_standalone' }).apply(c) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  const prod = tf.layers.multiply().apply([sum, tf.layers.activation({ activation: 'sigmoid' }).apply(a) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const pooled = tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(prod) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({}).apply(c) as tf.SymbolicTensor;
  const gmp = tf.layers.globalMaxPooling2d({}).apply(pooled) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(pooled) as tf.SymbolicTensor;
  let d = tf.layers.concatenate().apply([gap, gmp, flat]) as tf.SymbolicTensor;
  d = tf.layers.dense({ units: 10, activation: 'tanh' }).apply(d) as tf.SymbolicTensor;
  d = tf.layers.dropout({ rate: 0.5 }).apply(d) as tf.SymbolicTensor;
  d = tf.layers.dense({ units: 6, name: 'dense_linear' }).apply(d) as tf.SymbolicTensor;
  d = tf.layers.batchNormalization({ name: 'bn_on_dense' }).apply(d) as tf.SymbolicTensor;
  d = l2Normalize({ name: 'l2' }).apply(d) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: d });
}

test('every supported layer type converts with tfjs semantics (odd sizes, same padding, strides, NHWC flatten)', async () => {
  const model = withSeededMathRandom('every-layer', everyLayerModel);
  randomiseBatchNorms(model, 3);

  const x = tf.randomNormal([3, 15, 13, 3], 0, 1, 'float32', 4);
  const expected = (model.predict(x) as tf.Tensor).dataSync();
  for (const opset of [13, 17]) {
    for (const foldBatchNorm of [true, false]) {
      const bytes = exportToOnnx(model, { opset, foldBatchNorm });
      // OnnxEngine wants square inputs, so use onnxruntime directly for this 15x13 model.
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, [3, 15, 13, 3]) });
      const got = out.embedding.data as Float32Array;
      assert.deepEqual(out.embedding.dims, [3, 6]);
      let max = 0;
      got.forEach((v, i) => (max = Math.max(max, Math.abs(v - expected[i]))));
      assert.ok(max < 1e-5, `opset ${opset} fold ${foldBatchNorm}: max abs diff ${max}`);
      await session.release();
    }
  }
  x.dispose();
  model.dispose();
});

test("faceres34 with face-api.js's weights exports with its residual adds, max pool and scale layers (max abs diff < 1e-4)", async () => {
  const model = buildEmbeddingTower({ backbone: 'faceres34' }, { seed: 30 });
  loadFaceApiWeights(model);
  const onnxModel = buildOnnxModel(model);
  const ops = new Set(onnxModel.graph.node.map((n) => n.opType));
  for (const op of ['Conv', 'Add', 'MaxPool', 'AveragePool', 'Pad', 'Relu', 'Gemm']) assert.ok(ops.has(op), `graph has ${op}`);
  assert.ok(!ops.has('Mul'), 'every scale layer follows a conv and is folded into it');
  const onnx = await OnnxEngine.create(exportToOnnx(model), { threads: 1, log: quiet });
  const ref = new TfjsEngine(model);
  const diff = await maxAbsDiff(onnx, ref, tf.tidy(() => tf.randomNormal([2, 150, 150, 3], 0, 0.5, 'float32', 31).dataSync() as Float32Array), 2);
  assert.ok(diff < 1e-4, `max abs diff ${diff}`);
  await onnx.dispose();
  model.dispose();
});

test('a scale layer that cannot be folded, and channel zero-padding, convert with tfjs semantics', async () => {
  const input = tf.input({ shape: [5, 5, 3] });
  // Two consumers of the conv output: the scale layer cannot be folded into it.
  const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv' }).apply(input) as tf.SymbolicTensor;
  const scaled = channelScale({ name: 'scale' }).apply(conv) as tf.SymbolicTensor;
  const both = tf.layers.add({ name: 'add' }).apply([scaled, conv]) as tf.SymbolicTensor;
  const padded = zeroPadChannels({ channels: 7, name: 'pad' }).apply(both) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(padded) as tf.SymbolicTensor;
  const model = withSeededMathRandom('scale-pad', () => tf.model({ inputs: input, outputs: flat }));
  model.getLayer('scale').setWeights([tf.tensor1d([0.5, -1, 2, 1.5]), tf.tensor1d([0.1, 0.2, -0.3, 0])]);
  assert.ok(buildOnnxModel(model).graph.node.some((n) => n.opType === 'Mul'), 'kept as Mul + Add');
  const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 32);
  const expected = (model.predict(x) as tf.Tensor).dataSync();
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(exportToOnnx(model));
  const out = (await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, [2, 5, 5, 3]) })).embedding;
  assert.deepEqual(out.dims, [2, 5 * 5 * 7]);
  let max = 0;
  (out.data as Float32Array).forEach((v, i) => (max = Math.max(max, Math.abs(v - expected[i]))));
  assert.ok(max < 1e-5, `max abs diff ${max}`);
  model.dispose();
});

test('a 4-D output (the DenseNet backbone alone) comes back NHWC like tfjs', async () => {
  const model = withSeededMathRandom('backbone', () => buildDenseNet({ inputSize: 32, blocks: [1, 2], growthRate: 4 }));
  randomiseBatchNorms(model, 5);
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(exportToOnnx(model, { outputNames: ['features'] }));
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 6);
  const expected = model.predict(x) as tf.Tensor;
  const out = (await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, [2, 32, 32, 3]) })).features;
  assert.deepEqual(out.dims, expected.shape);
  const e = expected.dataSync();
  let max = 0;
  (out.data as Float32Array).forEach((v, i) => (max = Math.max(max, Math.abs(v - e[i]))));
  assert.ok(max < 1e-4, `max abs diff ${max}`);
  await session.release();
  model.dispose();
});

test('the ONNX model declares opset, IR version and an NHWC input with a free batch dimension', () => {
  const model = buildEmbeddingTower({ inputSize: 32, blocks: [1, 1], growthRate: 4, headUnits: [8, 8], embeddingDim: 4 }, { seed: 21 });
  const decoded = decodeModel(exportToOnnx(model, { opset: 15, metadata: { model_version: 'v7' } }));
  assert.equal(decoded.opsetImport[0].version, 15);
  assert.equal(decoded.irVersion, 8);
  assert.deepEqual(decoded.graph.input[0].type.tensorType.shape.dim, [{ dimParam: 'N' }, { dimValue: 32 }, { dimValue: 32 }, { dimValue: 3 }]);
  assert.deepEqual(decoded.graph.output[0].type.tensorType.shape.dim, [{ dimParam: 'N' }, { dimValue: 4 }]);
  assert.ok(decoded.metadataProps?.some((p) => p.key === 'model_version' && p.value === 'v7'));
  model.dispose();
});

test('unsupported layers and opsets are refused with bad_input naming the layer', () => {
  const input = tf.input({ shape: [8, 8, 3] });
  const out = tf.layers.depthwiseConv2d({ kernelSize: 3, name: 'dw_conv' }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  assert.throws(() => exportToOnnx(model), (err: Error & { code?: string }) => err.code === 'bad_input' && /dw_conv/.test(err.message) && /DepthwiseConv2D/.test(err.message));
  assert.throws(() => exportToOnnx(model, { opset: 11 }), { code: 'bad_input' });
  model.dispose();
});

test('engines check the batch size they are given', async () => {
  const model = buildEmbeddingTower({ inputSize: 32, blocks: [1, 1], growthRate: 4, headUnits: [8, 8], embeddingDim: 4 }, { seed: 22 });
  const onnx = await OnnxEngine.create(exportToOnnx(model), { log: quiet });
  const ref = new TfjsEngine(model);
  for (const engine of [onnx, ref]) {
    await assert.rejects(engine.embed(new Float32Array(10), 1), { code: 'bad_input' });
    await assert.rejects(engine.embed(new Float32Array(0), 0), { code: 'bad_input' });
  }
  await onnx.dispose();
  model.dispose();
});

test('asking for CUDA where onnxruntime has no CUDA provider falls back to CPU with a log line', async () => {
  const model = buildEmbeddingTower({ inputSize: 32, blocks: [1, 1], growthRate: 4, headUnits: [8, 8], embeddingDim: 4 }, { seed: 23 });
  const logs: string[] = [];
  const engine = await OnnxEngine.create(exportToOnnx(model), { env: { SIAMFACE_ORT_CUDA: '1' }, log: (m) => logs.push(m) });
  const cudaWorked = engine.describe().includes('cuda');
  // Here (no GPU, no CUDA provider libraries) it must fall back and say so; on a GPU worker it may really use CUDA.
  if (!cudaWorked) assert.ok(logs.some((l) => /CUDA/.test(l)), 'fallback is logged');
  const e = await engine.embed(randomBatch(1, 32, 9), 1);
  assert.equal(e[0].length, 4);
  await engine.dispose();
  model.dispose();
});
