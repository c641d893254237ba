/**
 * Saving and loading tfjs models and weights without tfjs-node: a local folder or an object-store
 * prefix holds `model.json` (topology + weights manifest, the standard tfjs layers format) and
 * `weights.bin`. Weights alone serialise to {specs, data} for training checkpoints.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput, notFound } from '../errors';
import type { ObjectStore } from '../storage/object-store';
import { joinKey } from '../storage/uri';
import './layers'; // registers the custom layers so saved towers deserialise

/** A tensor with a stable name (tfjs-core's NamedTensor, not re-exported by @tensorflow/tfjs). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** A Buffer's bytes as an exact, standalone ArrayBuffer. */
function arrayBufferOf(b: Buffer): ArrayBuffer {
  const out = new ArrayBuffer(b.length);
  new Uint8Array(out).set(b);
  return out;
}

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

export interface SaveModelOptions {
  /** Extra JSON kept in model.json under `userDefinedMetadata` (config, lineage). */
  metadata?: Record<string, unknown>;
}

interface ModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: tf.io.ModelArtifacts['modelTopology'];
  weightsManifest: tf.io.WeightsManifestConfig;
  userDefinedMetadata?: Record<string, unknown>;
}

function concatBuffers(data: tf.io.ModelArtifacts['weightData']): ArrayBuffer {
  if (data == null) return new ArrayBuffer(0);
  if (Array.isArray(data)) {
    return arrayBufferOf(Buffer.concat(data.map((b) => Buffer.from(b))));
  }
  return data as ArrayBuffer;
}

// --- artifacts <-> files -------------------------------------------------------------------

function toFiles(a: tf.io.ModelArtifacts, opts: SaveModelOptions): { json: string; weights: Buffer } {
  const model: ModelJson = {
    format: 'layers-model',
    generatedBy: `siamface (TensorFlow.js ${tf.version.tfjs})`,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: a.weightSpecs ?? [] }],
  };
  const meta = { ...(a.userDefinedMetadata ?? {}), ...(opts.metadata ?? {}) };
  if (Object.keys(meta).length) model.userDefinedMetadata = meta;
  return { json: JSON.stringify(model), weights: Buffer.from(concatBuffers(a.weightData)) };
}

function fromFiles(json: string, weights: Buffer, where: string): tf.io.ModelArtifacts {
  let model: ModelJson;
  try {
    model = JSON.parse(json) as ModelJson;
  } catch (err) {
    throw badInput(`${where}/${MODEL_JSON} is not valid JSON: ${(err as Error).message}`);
  }
  if (!model.modelTopology || !Array.isArray(model.weightsManifest)) {
    throw badInput(`${where}/${MODEL_JSON} is not a tfjs layers model (no modelTopology / weightsManifest)`);
  }
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPerValue(s), 0);
  if (expected !== weights.length) {
    throw badInput(`${where}/${WEIGHTS_BIN} has ${weights.length} bytes but ${MODEL_JSON} describes ${expected} (truncated or mismatched files?)`);
  }
  return {
    modelTopology: model.modelTopology,
    weightSpecs,
    weightData: arrayBufferOf(weights),
    format: model.format,
    generatedBy: model.generatedBy,
    userDefinedMetadata: model.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata'],
  };
}

function bytesPerValue(spec: tf.io.WeightsManifestEntry): number {
  if (spec.quantization) return spec.quantization.dtype === 'uint8' ? 1 : 2;
  return spec.dtype === 'bool' ? 1 : 4;
}

const saveResult = (artifacts: tf.io.ModelArtifacts): tf.io.SaveResult => ({
  modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts),
});

// --- IO handlers ---------------------------------------------------------------------------

/** tf.io handler for a local folder (model.json + weights.bin); the folder is created on save. */
export function directoryHandler(dir: string, opts: SaveModelOptions = {}): tf.io.IOHandler {
  return {
    async save(artifacts) {
      const { json, weights } = toFiles(artifacts, opts);
      await fs.promises.mkdir(dir, { recursive: true });
      // Weights first, model.json last and atomically: a readable model.json means a complete model.
      await fs.promises.writeFile(path.join(dir, WEIGHTS_BIN), weights);
      const tmp = path.join(dir, `${MODEL_JSON}.${process.pid}.tmp`);
      await fs.promises.writeFile(tmp, json);
      await fs.promises.rename(tmp, path.join(dir, MODEL_JSON));
      return saveResult(artifacts);
    },
    async load() {
      const jsonPath = path.join(dir, MODEL_JSON);
      if (!fs.existsSync(jsonPath)) throw notFound(`no saved model in ${dir} (${MODEL_JSON} missing)`);
      const json = await fs.promises.readFile(jsonPath, 'utf8');
      const weights = await fs.promises.readFile(path.join(dir, WEIGHTS_BIN)).catch(() => {
        throw notFound(`${dir}/${WEIGHTS_BIN} is missing`);
      });
      return fromFiles(json, weights, dir);
    },
  };
}

/** tf.io handler for an object-store prefix (`<prefix>/model.json`, `<prefix>/weights.bin`). */
export function objectStoreHandler(store: ObjectStore, prefix: string, opts: SaveModelOptions = {}): tf.io.IOHandler {
  return {
    async save(artifacts) {
      const { json, weights } = toFiles(artifacts, opts);
      await store.upload(joinKey(prefix, WEIGHTS_BIN), weights, { contentType: 'application/octet-stream' });
      await store.putObject(joinKey(prefix, MODEL_JSON), json, { contentType: 'application/json' });
      return saveResult(artifacts);
    },
    async load() {
      const where = store.uri(prefix);
      const json = (await store.getBuffer(joinKey(prefix, MODEL_JSON))).toString('utf8');
      const weights = await store.getBuffer(joinKey(prefix, WEIGHTS_BIN));
      return fromFiles(json, weights, where);
    },
  };
}

export async function saveModelToDir(model: tf.LayersModel, dir: string, opts: SaveModelOptions = {}): Promise<tf.io.SaveResult> {
  return model.save(directoryHandler(dir, opts));
}

export async function loadModelFromDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(directoryHandler(dir));
}

export async function saveModelToStore(model: tf.LayersModel, store: ObjectStore, prefix: string, opts: SaveModelOptions = {}): Promise<tf.io.SaveResult> {
  return model.save(objectStoreHandler(store, prefix, opts));
}

export async function loadModelFromStore(store: ObjectStore, prefix: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(objectStoreHandler(store, prefix));
}

// --- weights only (checkpoints) ------------------------------------------------------------

export interface SerializedWeights {
  specs: tf.io.WeightsManifestEntry[];
  data: Buffer;
}

/** Any named tensors (model weights, optimizer state) -> one buffer plus a manifest. Exact. */
export async function serializeTensors(named: NamedTensor[]): Promise<SerializedWeights> {
  const seen = new Set<string>();
  for (const { name } of named) {
    if (seen.has(name)) throw new Error(`serializeTensors: duplicate tensor name '${name}'`);
    seen.add(name);
  }
  const { data, specs } = await tf.io.encodeWeights(named);
  const buf = Buffer.from(concatBuffers(data));
  return { specs, data: buf };
}

/** Inverse of serializeTensors; the caller owns (and disposes) the returned tensors. */
export function deserializeTensors(specs: tf.io.WeightsManifestEntry[], data: Buffer): NamedTensor[] {
  const map = tf.io.decodeWeights(arrayBufferOf(data), specs);
  return specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
}

/** The model's weights keyed by their layer-scoped names ('conv1/conv/kernel'), stable across processes. */
export function namedWeights(model: tf.LayersModel): NamedTensor[] {
  return model.weights.map((w) => ({ name: w.originalName, tensor: w.read() }));
}

export async function serializeWeights(model: tf.LayersModel): Promise<SerializedWeights> {
  return serializeTensors(namedWeights(model));
}

/**
 * Sets every weight of `model` from serialised weights, matched by name with shapes checked.
 * All-or-nothing: nothing is written unless every model weight is present and fits.
 */
export function restoreWeights(model: tf.LayersModel, specs: tf.io.WeightsManifestEntry[], data: Buffer): void {
  const tensors = deserializeTensors(specs, data);
  try {
    const byName = new Map(tensors.map((t) => [t.name, t.tensor]));
    const pairs = model.weights.map((w) => {
      const t = byName.get(w.originalName);
      if (!t) throw badInput(`restoreWeights: checkpoint has no weight '${w.originalName}' (model and checkpoint architectures differ?)`);
      if (!tf.util.arraysEqual(t.shape, w.shape as number[])) {
        throw badInput(`restoreWeights: weight '${w.originalName}' has shape [${t.shape}] in the checkpoint but [${w.shape}] in the model`);
      }
      return { w, t };
    });
    if (byName.size !== model.weights.length) {
      const known = new Set(model.weights.map((w) => w.originalName));
      const extra = [...byName.keys()].filter((n) => !known.has(n));
      throw badInput(`restoreWeights: checkpoint has ${extra.length} weights the model lacks (first: ${extra.slice(0, 3).join(', ')})`);
    }
    for (const { w, t } of pairs) w.write(t);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
}
