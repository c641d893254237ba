/** The tfjs graph model -> ONNX conversion, on the model it exists for (BlazeFace) and on what it must refuse. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { anchorOutputs, loadBlazeFace, loadBlazeFaceGraph } from '../../../lib/face/blazeface';
import { decodeRgb } from '../../../lib/face/image';
import { graphModelToOnnx } from '../../../lib/infer/graph-model-onnx';
import { ensureBackend } from '../../../lib/model/backend';
import { SiamfaceError } from '../../../lib/errors';
import { SHARED_DATA } from '../../support/shared-data';

const PHOTO = path.join(SHARED_DATA, 'faces-dev', 'Colin_Powell', 'Colin_Powell_0001.jpg');
const skip = fs.existsSync(PHOTO) ? false : `shared face data not found at ${SHARED_DATA}`;

test('BlazeFace on ONNX Runtime gives what the tfjs graph model gives, on a real photo', { skip }, async () => {
  await ensureBackend();
  const rgb = await decodeRgb(fs.readFileSync(PHOTO), PHOTO);
  const input = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(rgb.data, [rgb.height, rgb.width, 3], 'int32').toFloat(), [256, 256]).div(127.5).sub(1).expandDims(0));
  const { model } = await loadBlazeFaceGraph();
  const tfjsOut = model.execute(input) as tf.Tensor[];
  const expected = anchorOutputs(tfjsOut.map((t) => ({ dims: t.shape, data: t.dataSync() as Float32Array })));
  tf.dispose(tfjsOut);
  model.dispose();

  const { session } = await loadBlazeFace();
  const ort = await import('onnxruntime-node');
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input.dataSync() as Float32Array, [1, 256, 256, 3]) });
  input.dispose();
  const actual = anchorOutputs(session.outputNames.map((n) => ({ dims: result[n].dims, data: result[n].data as Float32Array })));

  // Float32 sums in another order over ~40 layers: compare relative to each output's range.
  const relDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) / a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(relDiff(expected.logits, actual.logits) < 1e-4, `logits differ by ${relDiff(expected.logits, actual.logits)} of their range`);
  assert.ok(relDiff(expected.boxes, actual.boxes) < 1e-4, `boxes differ by ${relDiff(expected.boxes, actual.boxes)} of their range`);
  // Not a vacuous match: the photo's face scores high somewhere.
  assert.ok(Math.max(...actual.logits) > 2, `best logit ${Math.max(...actual.logits)}`);
});

test('an op outside the supported set is refused by name, not approximated', () => {
  const nodes = [
    { name: 'x', op: 'Placeholder' },
    { name: 'y', op: 'Sigmoid', input: ['x'] },
  ];
  assert.throws(
    () => graphModelToOnnx(nodes, {}, [1, 8, 8, 3], 'toy'),
    (err: unknown) => err instanceof SiamfaceError && err.code === 'bad_input' && /toy: op Sigmoid \('y'\) is not supported/.test(err.message),
  );
});

test('a fused convolution with an activation other than Relu is refused', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const nodes = [
    { name: 'x', op: 'Placeholder' },
    { name: 'w', op: 'Const' },
    { name: 'b', op: 'Const' },
    { name: 'c', op: '_FusedConv2D', input: ['x', 'w', 'b'], attr: { padding: { s: b64('SAME') }, strides: { list: { i: ['1', '1', '1', '1'] } }, fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } } } },
  ];
  const weights = { w: [tf.zeros([3, 3, 3, 4])], b: [tf.zeros([4])] };
  assert.throws(() => graphModelToOnnx(nodes, weights, [1, 8, 8, 3], 'toy'), /fuses BiasAdd\+Relu6; only BiasAdd and BiasAdd\+Relu/);
  tf.dispose([...weights.w, ...weights.b]);
});
