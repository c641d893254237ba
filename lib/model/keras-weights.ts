/**
 * Loads Keras HDF5 weights (the legacy `save_weights('*.h5')` layout of the official
 * densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5: root attribute `layer_names`, one
 * group per layer with a `weight_names` attribute, datasets at `<layer>/<weight name>`) into a
 * tfjs model by layer name, checking every shape. Also fetches and caches the ImageNet file.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput, notFound, SiamfaceError } from '../errors';
import { ObjectStore } from '../storage/object-store';
import { parseUri } from '../storage/uri';
import { readLocation } from '../storage/open-location';
import { checkLocation } from '../security/check-location';
import { inputPolicyFromEnv, type InputPolicy } from '../security/input-policy';

/** Where Keras publishes the DenseNet121 ImageNet weights without the classifier. */
export const DENSENET121_NOTOP_URL =
  'https://storage.googleapis.com/tensorflow/keras-applications/densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5';
/** MD5 Keras checks for that file (keras/applications/densenet.py). */
export const DENSENET121_NOTOP_MD5 = '30ee3e1110167f948a6b9946edeeb738';

/** First 8 bytes of every HDF5 file (superblock at offset 0, as Keras writes it). */
const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface KerasWeightsReport {
  /** Model layers whose weights were set from the file. */
  loaded: string[];
  /** Weight-bearing model layers absent from the file (e.g. the new head). */
  notInFile: string[];
  /** Weight-bearing file layers absent from the model (only when allowed). */
  notInModel: string[];
  /** Number of scalars assigned. */
  values: number;
}

export interface LoadKerasWeightsOptions {
  /** Accept file layers that the model lacks (default false: that is usually the wrong file). */
  allowExtraFileLayers?: boolean;
  /** Fail when a weight-bearing model layer is missing from the file (default false). */
  requireAllModelLayers?: boolean;
  /** Only consider model layers for which this returns true (default: all). */
  layerFilter?: (layer: tf.layers.Layer) => boolean;
}

type H5Module = typeof import('h5wasm/node', { with: { 'resolution-mode': 'import' } });
let h5Ready: Promise<H5Module> | null = null;

/** h5wasm is ESM-only; load it once through a real dynamic import. */
function h5wasm(): Promise<H5Module> {
  if (!h5Ready) {
    h5Ready = (async () => {
      const mod = await import('h5wasm/node');
      await mod.ready;
      return mod;
    })();
  }
  return h5Ready;
}

// Keras 2 names this layer 'conv1/conv', Keras 3 'conv1_conv': match either spelling.
const normaliseName = (name: string): string => name.replace(/\//g, '_');

function stringList(value: unknown): string[] {
  if (value == null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map(String);
  if (ArrayBuffer.isView(value)) return []; // h5py writes an empty list as an empty float array
  return [String(value)];
}

/** Last path component without the ':0' TensorFlow suffix: 'conv1/bn/gamma:0' -> 'gamma'. */
const weightBase = (name: string): string => name.replace(/:\d+$/, '').split('/').pop() as string;

/** Reads the whole weights file into memory: layer name -> [{name, shape, data}]. */
export async function readKerasH5(h5Path: string): Promise<Map<string, { name: string; shape: number[]; data: Float32Array }[]>> {
  if (!fs.existsSync(h5Path)) throw notFound(`Keras weights file ${h5Path} does not exist`);
  const head = Buffer.alloc(8);
  const fd = fs.openSync(h5Path, 'r');
  try {
    fs.readSync(fd, head, 0, 8, 0);
  } finally {
    fs.closeSync(fd);
  }
  // Check the signature ourselves: h5wasm opens any file and fails later with obscure errors.
  if (!head.equals(HDF5_MAGIC)) throw badInput(`${h5Path} is not a readable HDF5 file (wrong signature)`);
  const h5 = await h5wasm();
  let file: InstanceType<H5Module['File']>;
  try {
    file = new h5.File(h5Path, 'r');
  } catch (err) {
    throw badInput(`${h5Path} is not a readable HDF5 file: ${(err as Error).message}`);
  }
  try {
    // Files saved from a whole model keep the weights under 'model_weights'.
    const rootPath = file.attrs['layer_names'] ? '' : file.keys().includes('model_weights') ? 'model_weights/' : null;
    const root = rootPath === '' ? file : rootPath ? file.get('model_weights') : null;
    const layerNames = root && 'attrs' in root ? stringList(root.attrs['layer_names']?.value) : [];
    if (rootPath === null || layerNames.length === 0) {
      throw badInput(`${h5Path} has no 'layer_names' attribute: not a Keras save_weights('.h5') file (Keras 3 '.weights.h5' files are not supported)`);
    }
    const layers = new Map<string, { name: string; shape: number[]; data: Float32Array }[]>();
    for (const layerName of layerNames) {
      const group = file.get(`${rootPath}${layerName}`);
      if (!group || !('attrs' in group)) throw badInput(`${h5Path}: layer '${layerName}' is listed in layer_names but has no group`);
      const weights = stringList(group.attrs['weight_names']?.value).map((weightName) => {
        const ds = file.get(`${rootPath}${layerName}/${weightName}`);
        if (!ds || !(ds instanceof h5.Dataset)) throw badInput(`${h5Path}: layer '${layerName}' lists weight '${weightName}' but the file has no such dataset`);
        const value = ds.value as unknown;
        if (!ArrayBuffer.isView(value) || value instanceof DataView) {
          throw badInput(`${h5Path}: weight '${weightName}' of layer '${layerName}' is not numeric (dtype ${JSON.stringify(ds.dtype)})`);
        }
        const data = value instanceof Float32Array ? value : Float32Array.from(value as unknown as ArrayLike<number>);
        return { name: weightName, shape: (ds.shape ?? []).map(Number), data };
      });
      layers.set(layerName, weights);
    }
    return layers;
  } finally {
    file.close();
  }
}

/**
 * Sets the weights of `model`'s layers from a Keras .h5 file, matching layers by name and each
 * layer's weights by their base name (kernel, bias, gamma, beta, moving_mean, moving_variance).
 * Throws (naming the layer) on shape or weight-name mismatches, before changing any weight.
 */
export async function loadKerasWeights(model: tf.LayersModel, h5Path: string, opts: LoadKerasWeightsOptions = {}): Promise<KerasWeightsReport> {
  const fileLayers = await readKerasH5(h5Path);
  const modelLayers = new Map<string, tf.layers.Layer>();
  for (const layer of model.layers) {
    if (layer.weights.length === 0 || (opts.layerFilter && !opts.layerFilter(layer))) continue;
    modelLayers.set(normaliseName(layer.name), layer);
  }
  const assignments: { layer: tf.layers.Layer; values: Float32Array[] }[] = [];
  const notInModel: string[] = [];
  const seen = new Set<string>();
  let values = 0;
  for (const [fileName, weights] of fileLayers) {
    if (weights.length === 0) continue;
    const layer = modelLayers.get(normaliseName(fileName));
    if (!layer) {
      notInModel.push(fileName);
      continue;
    }
    seen.add(layer.name);
    const byBase = new Map(weights.map((w) => [weightBase(w.name), w]));
    if (byBase.size !== layer.weights.length) {
      throw badInput(`${h5Path}: layer '${fileName}' has ${weights.length} weights (${weights.map((w) => w.name).join(', ')}) but model layer '${layer.name}' has ${layer.weights.length} (${layer.weights.map((w) => weightBase(w.originalName)).join(', ')})`);
    }
    const ordered = layer.weights.map((w) => {
      const base = weightBase(w.originalName);
      const src = byBase.get(base);
      if (!src) throw badInput(`${h5Path}: layer '${fileName}' has no weight '${base}' (file has ${[...byBase.keys()].join(', ')})`);
      const want = w.shape as number[];
      if (src.shape.length !== want.length || src.shape.some((d, i) => d !== want[i])) {
        throw badInput(`${h5Path}: layer '${fileName}' weight '${base}' has shape [${src.shape}] but the model expects [${want}]`);
      }
      values += src.data.length;
      return src.data;
    });
    assignments.push({ layer, values: ordered });
  }
  if (notInModel.length > 0 && !opts.allowExtraFileLayers) {
    throw badInput(`${h5Path}: ${notInModel.length} weight layers are not in the model (first: ${notInModel.slice(0, 5).join(', ')}); wrong architecture or block counts?`);
  }
  const notInFile = [...modelLayers.values()].filter((l) => !seen.has(l.name)).map((l) => l.name);
  if (notInFile.length > 0 && opts.requireAllModelLayers) {
    throw badInput(`${h5Path}: ${notInFile.length} model layers have no weights in the file (first: ${notInFile.slice(0, 5).join(', ')})`);
  }
  for (const { layer, values: vs } of assignments) {
    const tensors = vs.map((v, i) => tf.tensor(v, layer.weights[i].shape as number[], 'float32'));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
  return { loaded: assignments.map((a) => a.layer.name), notInFile, notInModel, values };
}

export interface ResolveWeightsOptions {
  /** Local folder for downloaded files (default ~/.cache/siamface/weights or $SIAMFACE_CACHE_DIR/weights). */
  localDir?: string;
  /** Expected MD5 of the file; defaults to Keras's hash when the source is the official notop file. */
  md5?: string;
  signal?: AbortSignal;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** What the weights location may be (default: the worker's policy from its environment). */
  policy?: InputPolicy;
}

/** Where downloaded weights are cached in the bucket: derived from the location, always under this prefix. */
export const WEIGHTS_CACHE_PREFIX = 'cache/weights/';

/** The cache key of a weights location: one per location (never shared by two URLs), never chosen by the input. */
export function weightsCacheKey(location: string): string {
  const base = (parseUri(location).kind === 'http' ? new URL(location).pathname : location).split('/').pop() || 'weights.h5';
  return `${WEIGHTS_CACHE_PREFIX}${createHash('sha256').update(location).digest('hex').slice(0, 16)}/${base.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** Weights files are about 30 MB (DenseNet121 notop); a cap far above that stops a body that never ends. */
const MAX_WEIGHTS_BYTES = 1024 ** 3;

function defaultCacheDir(): string {
  return path.join(process.env.SIAMFACE_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'siamface'), 'weights');
}

function checkWeightsBytes(bytes: Buffer, where: string, md5?: string): void {
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(HDF5_MAGIC)) {
    throw badInput(`${where} is not an HDF5 file (${bytes.length} bytes, wrong signature)`);
  }
  if (md5) {
    const got = createHash('md5').update(bytes).digest('hex');
    if (got !== md5) throw new SiamfaceError('checksum_mismatch', `${where}: MD5 ${got}, expected ${md5}`);
  }
}

async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await fs.promises.writeFile(tmp, bytes);
  await fs.promises.rename(tmp, file);
}

/**
 * Returns a local path to the ImageNet weights named by `source` (URL, s3:// URI or local path).
 * A local path is used as is. Otherwise the bytes come from, in order: the local cache, the
 * object store at `cacheKey` (shared by all workers), then `source` itself, which is then copied
 * to `cacheKey` so that later runs and other workers never download it again.
 */
export async function resolveImagenetWeights(source: string, store: ObjectStore, cacheKey: string, opts: ResolveWeightsOptions = {}): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const policy = opts.policy ?? inputPolicyFromEnv();
  if (!cacheKey.startsWith(WEIGHTS_CACHE_PREFIX) || cacheKey.split('/').some((s) => s === '..' || s === '.')) {
    throw badInput(`weights cache key ${cacheKey} must lie under ${WEIGHTS_CACHE_PREFIX}`);
  }
  // Checked against the policy (local roots for pipeline inputs, readable buckets, URL destinations) before the cache.
  const loc = await checkLocation(source, { policy, purpose: 'dataset', what: 'training.weights.location', ownBucket: store.bucket, resolveHost: false });
  if (loc.kind === 'file') {
    if (!fs.existsSync(loc.path)) throw notFound(`ImageNet weights file ${loc.path} does not exist`);
    return loc.path;
  }
  const md5 = opts.md5 ?? (source.endsWith('densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5') ? DENSENET121_NOTOP_MD5 : undefined);
  const localDir = opts.localDir ?? defaultCacheDir();
  const localPath = path.join(localDir, `${createHash('sha256').update(`${store.bucket}/${cacheKey}`).digest('hex').slice(0, 16)}-${path.basename(cacheKey)}`);
  const cached = await store.head(cacheKey);
  if (cached) {
    const st = fs.existsSync(localPath) ? fs.statSync(localPath) : null;
    if (st && st.size === cached.size) {
      log('imagenet weights: local cache hit', { path: localPath });
      return localPath;
    }
    const bytes = await store.getBuffer(cacheKey);
    checkWeightsBytes(bytes, store.uri(cacheKey), md5);
    await writeAtomically(localPath, bytes);
    log('imagenet weights: fetched from object store cache', { key: store.uri(cacheKey), bytes: bytes.length });
    return localPath;
  }
  const bytes = await readLocation(loc, { store, signal: opts.signal, policy, purpose: 'dataset', what: 'training.weights.location', maxBytes: MAX_WEIGHTS_BYTES });
  checkWeightsBytes(bytes, source, md5);
  await store.upload(cacheKey, bytes, { contentType: 'application/x-hdf5' });
  await writeAtomically(localPath, bytes);
  log('imagenet weights: downloaded and cached', { source, key: store.uri(cacheKey), bytes: bytes.length });
  return localPath;
}
