/**
 * face-api.js's pretrained ResNet-34 face embedder weights, read offline from the installed
 * @vladmandic/face-api package (model/face_recognition_model-weights_manifest.json + .bin: 117
 * tensors, most uint8-quantised with a per-tensor scale and minimum that tf.io dequantises) and
 * set on a faceres34 backbone by name. Nothing is downloaded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput, notFound } from '../errors';

export const FACE_API_MODEL_DIR = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
export const FACE_RECOGNITION_MANIFEST = 'face_recognition_model-weights_manifest.json';

/** What the weights are: recorded in model cards as the backbone's starting point. */
export function faceApiWeightsVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(FACE_API_MODEL_DIR, '..', 'package.json'), 'utf8')) as { name: string; version: string };
  return `${pkg.name}@${pkg.version}/model/${FACE_RECOGNITION_MANIFEST}`;
}

/** Package weight name -> the tfjs weight it sets (`conv32_down/conv/filters` -> `conv32_down/conv/kernel`, `fc` -> `fc/kernel`). */
export function modelWeightName(packageName: string): string {
  if (packageName === 'fc') return 'fc/kernel';
  return packageName.replace(/\/conv\/filters$/, '/conv/kernel');
}

function bytesOf(entry: tf.io.WeightsManifestEntry): number {
  const n = entry.shape.reduce((a, b) => a * b, 1);
  const q = entry.quantization?.dtype;
  return n * (q === 'uint8' ? 1 : q === 'uint16' || q === 'float16' ? 2 : 4);
}

/** The package's tensors by package name (dequantised float32); errors name the file. The caller disposes them. */
export function readFaceRecognitionWeights(modelDir = FACE_API_MODEL_DIR): Map<string, tf.Tensor> {
  const manifestPath = path.join(modelDir, FACE_RECOGNITION_MANIFEST);
  if (!fs.existsSync(manifestPath)) throw notFound(`face-api.js weights manifest ${manifestPath} does not exist (is @vladmandic/face-api installed?)`);
  let manifest: tf.io.WeightsManifestConfig;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as tf.io.WeightsManifestConfig;
    if (!Array.isArray(manifest) || !manifest.every((g) => Array.isArray(g.paths) && Array.isArray(g.weights))) throw new Error('not a weights manifest (array of {paths, weights})');
  } catch (err) {
    throw badInput(`face-api.js weights manifest ${manifestPath} is corrupt: ${(err as Error).message}`);
  }
  const out = new Map<string, tf.Tensor>();
  try {
    for (const group of manifest) {
      const buffers = group.paths.map((p) => {
        const file = path.join(modelDir, p);
        if (!fs.existsSync(file)) throw notFound(`face-api.js weights file ${file} (listed in ${manifestPath}) does not exist`);
        return fs.readFileSync(file);
      });
      const data = Buffer.concat(buffers);
      const want = group.weights.reduce((n, w) => n + bytesOf(w), 0);
      if (data.length !== want) throw badInput(`face-api.js weights file ${group.paths.map((p) => path.join(modelDir, p)).join(', ')} is corrupt: ${data.length} bytes, the manifest describes ${want}`);
      const decoded = tf.io.decodeWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.length), group.weights);
      for (const w of group.weights) out.set(w.name, decoded[w.name]);
    }
  } catch (err) {
    tf.dispose([...out.values()]);
    throw err;
  }
  return out;
}

/**
 * Sets every weight of the model's faceres34 layers from the package (all or nothing; shapes
 * checked). Returns how many tensors were loaded. Layers outside the backbone (the head) are untouched.
 */
export function loadFaceApiWeights(model: tf.LayersModel, modelDir = FACE_API_MODEL_DIR): { loaded: number; source: string } {
  const tensors = readFaceRecognitionWeights(modelDir);
  try {
    const byName = new Map(model.weights.map((w) => [w.originalName, w]));
    const writes = [...tensors.entries()].map(([name, t]) => {
      const target = byName.get(modelWeightName(name));
      if (!target) throw badInput(`face-api.js weight '${name}' has no matching layer weight '${modelWeightName(name)}' in model '${model.name}' (not a faceres34 backbone?)`);
      if (!tf.util.arraysEqual(target.shape as number[], t.shape)) {
        throw badInput(`face-api.js weight '${name}' has shape [${t.shape}] but the model expects [${target.shape}]`);
      }
      return { target, t };
    });
    for (const { target, t } of writes) target.write(t);
    return { loaded: writes.length, source: faceApiWeightsVersion() };
  } finally {
    tf.dispose([...tensors.values()]);
  }
}
