import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet, denseNetOutputChannels, resolveDenseNetConfig, DEFAULT_DENSENET_CONFIG } from '../../../lib/model/densenet';
import { SiamfaceError } from '../../../lib/errors';
import { withSeededMathRandom } from '../../../lib/model/seeded-init';

test('DenseNet121 (include_top=False) has exactly Keras parameter count and layer names', () => {
  const model = buildDenseNet({ inputSize: 224 });
  try {
    assert.equal(model.countParams(), 7_037_504);
    assert.deepEqual(model.outputs[0].shape, [null, 7, 7, 1024]);
    const names = model.layers.map((l) => l.name);
    // Keras: input + stem (6) + 58 conv blocks x 7 + 3 transitions x 4 + bn, relu.
    assert.equal(names.length, 1 + 6 + 58 * 7 + 3 * 4 + 2);
    assert.deepEqual(names.slice(0, 14), [
      'input_1', 'zero_padding2d', 'conv1/conv', 'conv1/bn', 'conv1/relu', 'zero_padding2d_1', 'pool1',
      'conv2_block1_0_bn', 'conv2_block1_0_relu', 'conv2_block1_1_conv', 'conv2_block1_1_bn', 'conv2_block1_1_relu', 'conv2_block1_2_conv', 'conv2_block1_concat',
    ]);
    for (const n of ['pool2_bn', 'pool2_relu', 'pool2_conv', 'pool2_pool', 'conv3_block12_concat', 'pool4_pool', 'conv4_block24_2_conv', 'conv5_block16_concat']) {
      assert.ok(names.includes(n), `has layer ${n}`);
    }
    assert.deepEqual(names.slice(-2), ['bn', 'relu']);
    const bn = model.getLayer('conv3_block5_1_bn').getConfig();
    assert.equal(bn.epsilon, 1.001e-5);
    assert.equal(model.getLayer('pool3_conv').getWeights()[0].shape.join('x'), '1x1x512x256');
  } finally {
    model.dispose();
  }
});

test('a tiny DenseNet is built by the same code and runs', () => {
  const cfg = { blocks: [1, 2], inputSize: 32, growthRate: 8 };
  const model = withSeededMathRandom('densenet', () => buildDenseNet(cfg));
  const names = model.layers.map((l) => l.name);
  assert.ok(names.includes('conv3_block2_concat'));
  assert.ok(!names.includes('pool3_conv'), 'no transition after the last dense block');
  const channels = denseNetOutputChannels(resolveDenseNetConfig(cfg));
  assert.equal(channels, Math.trunc((64 + 8) * 0.5) + 2 * 8);
  const y = model.predict(tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3)) as tf.Tensor;
  assert.deepEqual(y.shape, [2, 4, 4, channels]); // 32 -> conv1 16 -> pool1 8 -> pool2 4
  assert.ok((y.min().dataSync()[0]) >= 0, 'ends with a ReLU');
  tf.dispose(y);
  model.dispose();
});

test('DenseNet config validation names the bad field', () => {
  assert.deepEqual(resolveDenseNetConfig({}), DEFAULT_DENSENET_CONFIG);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ blocks: [] }, /blocks/],
    [{ blocks: [6, 0] }, /blocks\[1\]/],
    [{ growthRate: 1.5 }, /growthRate/],
    [{ reduction: 0 }, /reduction/],
    [{ inputSize: 16, blocks: [1, 1, 1, 1, 1] }, /inputSize 16 is too small/],
  ];
  for (const [cfg, re] of bad) {
    assert.throws(() => resolveDenseNetConfig(cfg), (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && re.test(e.message));
  }
});
