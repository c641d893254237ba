/**
 * The faceres34 backbone is face-api.js's ResNet-34 face embedder, ported to tfjs-layers: with the
 * package's weights its descriptor equals face-api.js's own computeFaceDescriptor on real faces, and
 * a tower with the default (identity-initialised linear) head starts at the normalised descriptor.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import { selectBackend } from '../../../lib/model/backend';
import { buildEmbeddingTower, resolveModelConfig, TOWER_LAYERS } from '../../../lib/model/tower';
import { BACKBONES } from '../../../lib/model/backbones';
import { FACERES34_INPUT_SIZE } from '../../../lib/model/faceres34';
import { FACE_API_MODEL_DIR, FACE_RECOGNITION_MANIFEST, loadFaceApiWeights } from '../../../lib/model/face-api-weights';
import { preprocessRgbBytes } from '../../../lib/model/preprocess';
import { SiamfaceError } from '../../../lib/errors';
import { sharedSet } from '../../support/shared-data';

/** Real faces of three kinds: LFW deep-funneled, an unaligned CelebA photo, a faces-dev photo. */
const FACES = [
  ['lfw-train', 'Aaron_Peirsol/Aaron_Peirsol_0001.jpg'],
  ['lfw-train', 'Abdullah_Gul/Abdullah_Gul_0002.jpg'],
  ['celeba-wild', '07201'],
  ['faces-dev', ''],
] as const;

function firstImage(dir: string): string {
  const sub = fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()[0];
  return path.join(dir, sub, fs.readdirSync(path.join(dir, sub)).sort()[0]);
}

function facePath([set, rel]: readonly [string, string]): string {
  const dir = sharedSet(set as 'lfw-train');
  const p = path.join(dir, rel);
  return rel.endsWith('.jpg') ? p : rel ? path.join(p, fs.readdirSync(p).sort()[0]) : firstImage(dir);
}

async function rgb150(file: string): Promise<Buffer> {
  return (await sharp(file).resize(FACERES34_INPUT_SIZE, FACERES34_INPUT_SIZE, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })).data;
}

before(async () => {
  await selectBackend(process.env.SIAMFACE_TF_BACKEND ? 'auto' : 'wasm', { log: () => undefined });
  await faceapi.nets.faceRecognitionNet.loadFromDisk(FACE_API_MODEL_DIR);
});

test("the port's descriptor equals face-api.js's computeFaceDescriptor within 1e-4 on real faces", async () => {
  const tower = buildEmbeddingTower({ backbone: 'faceres34' }, { seed: 1 });
  const report = loadFaceApiWeights(tower);
  assert.equal(report.loaded, 117, 'every tensor of the package is used');
  assert.match(report.source, /@vladmandic\/face-api@[\d.]+\/model\/face_recognition_model-weights_manifest\.json/);
  const backbone = tf.model({ inputs: tower.inputs, outputs: tower.getLayer('fc').output as tf.SymbolicTensor });
  const norm = BACKBONES.faceres34.normalization;
  for (const face of FACES) {
    const file = facePath(face);
    const rgb = await rgb150(file);
    const ref = (await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(tf.tensor3d(new Uint8Array(rgb), [150, 150, 3], 'int32') as never)) as Float32Array;
    const x = tf.tensor4d(preprocessRgbBytes(rgb, norm), [1, 150, 150, 3]);
    const got = (backbone.predict(x) as tf.Tensor).dataSync();
    assert.equal(got.length, 128);
    let maxDiff = 0;
    for (let i = 0; i < 128; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]));
    assert.ok(maxDiff < 1e-4, `${file}: max abs diff ${maxDiff}`);
    // And the tower (identity linear head + L2) gives the normalised descriptor.
    const emb = (tower.predict(x) as tf.Tensor).dataSync();
    const norm2 = Math.hypot(...Array.from(ref));
    for (let i = 0; i < 128; i++) assert.ok(Math.abs(emb[i] - ref[i] / norm2) < 1e-4, `${file}: tower output ${i}`);
    tf.dispose(x);
  }
  tower.dispose();
});

test('faceres34 refuses another input size and densenet-only fields; its head defaults to linear', () => {
  const cfg = resolveModelConfig({ backbone: 'faceres34' });
  assert.equal(cfg.inputSize, 150);
  assert.equal(cfg.head, 'linear');
  assert.equal(cfg.embeddingDim, 128);
  assert.equal(cfg.blocks, undefined);
  const named = (field: string) => (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && e.message.includes(field);
  assert.throws(() => resolveModelConfig({ backbone: 'faceres34', inputSize: 112 }), named('inputSize'));
  assert.throws(() => resolveModelConfig({ backbone: 'faceres34', blocks: [6, 12, 24, 16] }), named('blocks'));
  assert.throws(() => resolveModelConfig({ backbone: 'resnet50' as never }), named('backbone'));
  const mlp = buildEmbeddingTower({ backbone: 'faceres34', head: 'mlp', headUnits: [32, 16], embeddingDim: 8 }, { seed: 2 });
  assert.deepEqual(mlp.outputs[0].shape, [null, 8]);
  assert.ok(mlp.getLayer(TOWER_LAYERS.dense1));
  mlp.dispose();
});

test('a missing or corrupt weights file gives an error naming the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-faceapi-'));
  const tower = buildEmbeddingTower({ backbone: 'faceres34' }, { seed: 3 });
  const before = tower.getLayer('conv32_down/conv').getWeights()[0].dataSync().slice(0, 8);
  // No manifest at all.
  assert.throws(() => loadFaceApiWeights(tower, dir), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found' && e.message.includes(path.join(dir, FACE_RECOGNITION_MANIFEST)));
  // The manifest, but no .bin.
  fs.copyFileSync(path.join(FACE_API_MODEL_DIR, FACE_RECOGNITION_MANIFEST), path.join(dir, FACE_RECOGNITION_MANIFEST));
  assert.throws(() => loadFaceApiWeights(tower, dir), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found' && /face_recognition_model\.bin/.test(e.message));
  // A truncated .bin.
  const bin = fs.readFileSync(path.join(FACE_API_MODEL_DIR, 'face_recognition_model.bin'));
  fs.writeFileSync(path.join(dir, 'face_recognition_model.bin'), bin.subarray(0, bin.length - 100));
  assert.throws(() => loadFaceApiWeights(tower, dir), (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && /corrupt/.test(e.message) && e.message.includes(dir));
  // A manifest that is not JSON.
  fs.writeFileSync(path.join(dir, FACE_RECOGNITION_MANIFEST), '{"not": "a manifest"');
  assert.throws(() => loadFaceApiWeights(tower, dir), (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && e.message.includes(FACE_RECOGNITION_MANIFEST));
  assert.deepEqual(tower.getLayer('conv32_down/conv').getWeights()[0].dataSync().slice(0, 8), before, 'nothing was written');
  tower.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});
