/**
 * One input image -> the model's input pixels, the way training prepared them: the data stage's own
 * preparation (lib/data/preprocess preprocessImage: header checks, crop or detected face aligned into
 * the model's frame, resize to the dataset's image size, JPEG), then the training loader's decode to the
 * model's input size; the caller normalises with the card's values. Per-image failures become
 * ImageError (no_face, bad_image, not_found, forbidden, fetch_failed, timeout).
 */
import sharp from 'sharp';
import type { ObjectStore } from '../storage/object-store';
import { displayLocation, FetchError, readLocation } from '../storage/open-location';
import { isUri } from '../storage/uri';
import { inputPolicyFromEnv, POLICY_ENV, type InputPolicy } from '../security/input-policy';
import { SiamfaceError } from '../errors';
import { BadImageError, DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_PIXELS, decodeForModel, orientedSize, preprocessImage, type CropMode, type FaceAligner } from '../data/preprocess';
import { decodeRgb } from '../face/image';
import { isCelebaFrameSize } from '../face/align';
import { detectAndAlign } from '../face/detect-and-align';
import { shouldDetect, type ImagePrep } from './detection-policy';
import type { DetectMode, FaceInfo, ImageErrorCode, ImageInput } from './types';

/** Network failures of one image: worth retrying for a single verify, but a batch records them as the row's error. */
const NETWORK_IMAGE_CODES: ReadonlySet<ImageErrorCode> = new Set(['fetch_failed', 'timeout']);

export class ImageError extends SiamfaceError {
  constructor(
    readonly imageCode: ImageErrorCode,
    message: string,
    opts: { cause?: unknown; image?: string } = {},
  ) {
    const network = NETWORK_IMAGE_CODES.has(imageCode);
    super(network ? 'transient' : (imageCode as Exclude<ImageErrorCode, 'fetch_failed' | 'timeout'>), message, { cause: opts.cause, permanent: !network, details: { imageError: imageCode, image: opts.image } });
    this.name = 'ImageError';
  }
}

/** Short name of an input for messages (never the bytes, never a URL's credentials or signature). */
export function describeInput(input: ImageInput): string {
  return typeof input === 'string' ? displayLocation(input) : `<${input.length} bytes>`;
}

/**
 * Reads an input's bytes under the worker's policy for images (no local folders unless the operator lists some).
 * Refused by the policy or by the image's server (401/403, S3 AccessDenied) -> forbidden (a refused local path before
 * any file-system access, so it says nothing about existence); missing -> not_found; an http(s) image that cannot be
 * reached (connection refused, no DNS answer, 5xx, cut off) -> fetch_failed, or slower than the policy's limits ->
 * timeout. Other errors, such as the job's own store being down, propagate (worth retrying the whole request).
 */
export async function readImageBytes(input: ImageInput, opts: { store?: ObjectStore; baseUri?: string; policy?: InputPolicy } = {}): Promise<Buffer> {
  if (typeof input !== 'string') return checkedBytes(Buffer.from(input.buffer, input.byteOffset, input.byteLength), '<bytes>');
  const location = resolveAgainst(input, opts.baseUri);
  const shown = describeInput(input);
  const policy = opts.policy ?? inputPolicyFromEnv();
  const timeout = policy.url.imageTimeoutMs ? { ms: policy.url.imageTimeoutMs, setting: POLICY_ENV.imageTimeoutMs } : undefined;
  try {
    return await readLocation(location, { store: opts.store, policy, purpose: 'image', what: 'image', maxBytes: DEFAULT_MAX_INPUT_BYTES, timeout });
  } catch (err) {
    if (err instanceof FetchError) throw new ImageError(err.reason === 'timeout' ? 'timeout' : 'fetch_failed', err.message, { cause: err, image: shown });
    if (!(err instanceof SiamfaceError)) {
      // Anything else a URL's server or the network does to one download is still that image's failure.
      if (/^https?:\/\//i.test(location)) throw new ImageError('fetch_failed', `image ${shown}: ${(err as Error).message}`, { cause: err, image: shown });
      throw err;
    }
    // A host name that does not resolve is an unreachable URL (the policy refuses it before connecting; nothing leaks).
    if (err.code === 'forbidden' && err.details?.rule === 'dns') throw new ImageError('fetch_failed', err.message, { cause: err, image: shown });
    if (err.code === 'forbidden' || err.code === 'bad_credentials') throw new ImageError('forbidden', err.message, { cause: err, image: shown });
    if (err.code === 'not_found') throw new ImageError('not_found', err.message, { cause: err, image: shown });
    if (err.code === 'bad_input') throw new ImageError('bad_image', `cannot read ${shown}: ${err.message}`, { cause: err, image: shown });
    throw err;
  }
}

function checkedBytes(bytes: Buffer, name: string): Buffer {
  if (bytes.length > DEFAULT_MAX_INPUT_BYTES) throw new ImageError('bad_image', `${name} is ${bytes.length} bytes, above the ${DEFAULT_MAX_INPUT_BYTES}-byte limit`, { image: name });
  return bytes;
}

/** A relative path or key resolved against a base location (a folder path or an s3:// / http(s):// prefix). */
export function resolveAgainst(input: string, baseUri?: string): string {
  if (!baseUri || isUri(input) || input.startsWith('/')) return input;
  return `${baseUri.replace(/\/+$/, '')}/${input.replace(/^\.?\/+/, '')}`;
}

export interface PreparedImage {
  /** inputSize x inputSize interleaved RGB bytes. */
  rgb: Buffer;
  face: FaceInfo | null;
  timings: { decode: number; detect: number };
}

export interface PrepareOptions {
  prep: ImagePrep;
  detect: DetectMode;
  /** Names the image in errors. */
  name: string;
  /** Face to keep among several (default 'largest'). */
  select?: 'largest' | 'highest_score';
}

export async function prepareImage(bytes: Buffer, opts: PrepareOptions): Promise<PreparedImage> {
  const t0 = performance.now();
  const { prep } = opts;
  // The header only (the size decides whether to detect); preprocessImage checks the byte size and pixel count
  // before anything is decoded (decompression bombs).
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageError('bad_image', `${opts.name} is not a readable image: ${(err as Error).message}`, { cause: err, image: opts.name });
  }
  const size = orientedSize(meta);
  const detect = shouldDetect(opts.detect, prep.geometry, size);
  let face: FaceInfo | null = null;
  let detectMs = 0;
  // The same crop the shards were made with: a detected face warped into the model's frame, the
  // face chip of an aligned CelebA crop (no detection needed), or the centre square.
  const chip = prep.geometry === 'face-chip';
  const crop: CropMode = detect ? (chip ? 'face-chip' : 'face-align') : chip && isCelebaFrameSize(size) ? 'face-chip' : 'centre';
  const aligner: FaceAligner = async (image, size, frameCrop) => {
    const t1 = performance.now();
    const rgb = await decodeRgb(image, opts.name).catch((err: Error) => {
      throw new ImageError('bad_image', err.message, { cause: err, image: opts.name });
    });
    let found;
    try {
      found = await detectAndAlign(rgb, { name: opts.name, select: opts.select, outputSize: size, format: 'png', frame: frameCrop === 'face-chip' ? 'face-chip' : 'celeba' });
    } catch (err) {
      if (err instanceof SiamfaceError && err.code === 'no_face') throw new ImageError('no_face', err.message, { cause: err, image: opts.name });
      throw err;
    }
    face = { box: found.face.box, landmarks: found.face.landmarks, score: found.face.score, faceCount: found.faceCount };
    detectMs = performance.now() - t1;
    return found.aligned;
  };
  let jpeg: Buffer;
  try {
    jpeg = await preprocessImage(bytes, {
      size: prep.datasetImageSize,
      crop,
      maxInputPixels: DEFAULT_MAX_INPUT_PIXELS,
      maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
      aligner: detect ? aligner : undefined,
    });
  } catch (err) {
    if (err instanceof BadImageError) throw new ImageError('bad_image', `${opts.name}: ${err.reason}`, { cause: err, image: opts.name });
    throw err;
  }
  const rgb = await decodeForModel(jpeg, prep.inputSize);
  const decodeMs = performance.now() - t0 - detectMs;
  return { rgb, face, timings: { decode: decodeMs, detect: detectMs } };
}
