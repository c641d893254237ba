/**
 * One input image -> the model's input pixels, the way training prepared them: either detect the
 * largest face and warp it into CelebA's aligned frame, or take the image as it is; then the data
 * stage's own centre-square crop + resize + JPEG (lib/data/preprocess preprocessImage) and the
 * training loader's decode. Per-image failures become ImageError (no_face, bad_image, not_found).
 */
import sharp from 'sharp';
import type { ObjectStore } from '../storage';
import { displayLocation, readLocation } from '../storage/open-location';
import type { InputPolicy } from '../security/input-policy';
import { SiamfaceError } from '../errors';
import { BadImageError, DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_PIXELS, preprocessImage } from '../data/preprocess';
import { decodeRgb } from '../face/image';
import { alignFace } from '../face/align';
import { detectLargestFace } from '../face/detector';
import { shouldDetect, type TrainingGeometry } from './detection-policy';
import type { DetectMode, FaceInfo, ImageErrorCode, ImageInput } from './types';

export class ImageError extends SiamfaceError {
  constructor(
    readonly imageCode: ImageErrorCode,
    message: string,
    opts: { cause?: unknown; image?: string } = {},
  ) {
    super(imageCode, message, { cause: opts.cause, details: { imageError: imageCode, image: opts.image } });
    this.name = 'ImageError';
  }
}

/** Short name of an input for messages (never the bytes, never a URL's credentials or signature). */
export function describeInput(input: ImageInput): string {
  return typeof input === 'string' ? displayLocation(input) : `<${input.length} bytes>`;
}

/**
 * Reads an input's bytes under the worker's policy for images (no local folders unless the operator lists some).
 * Refused -> forbidden (before any file-system access, so it says nothing about existence); missing -> not_found;
 * transient storage errors propagate (worth a retry).
 */
export async function readImageBytes(input: ImageInput, opts: { store?: ObjectStore; baseUri?: string; policy?: InputPolicy } = {}): Promise<Buffer> {
  if (typeof input !== 'string') return checkedBytes(Buffer.from(input.buffer, input.byteOffset, input.byteLength), '<bytes>');
  const location = resolveAgainst(input, opts.baseUri);
  const shown = describeInput(input);
  try {
    return await readLocation(location, { store: opts.store, policy: opts.policy, purpose: 'image', what: 'image', maxBytes: DEFAULT_MAX_INPUT_BYTES });
  } catch (err) {
    if (!(err instanceof SiamfaceError)) throw err;
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
  if (!baseUri || /^[a-z][a-z0-9+.-]*:\/\//i.test(input) || input.startsWith('/')) return input;
  return `${baseUri.replace(/\/+$/, '')}/${input.replace(/^\.?\/+/, '')}`;
}

export interface PreparedImage {
  /** inputSize x inputSize interleaved RGB bytes. */
  rgb: Buffer;
  face: FaceInfo | null;
  timings: { decode: number; detect: number };
}

export interface PrepareOptions {
  inputSize: number;
  detect: DetectMode;
  geometry: TrainingGeometry;
  /** Names the image in errors. */
  name: string;
  /** Face to keep among several (default 'largest'). */
  select?: 'largest' | 'highest_score';
}

const preprocessOpts = (size: number) => ({ size, crop: 'centre' as const, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS, maxInputBytes: DEFAULT_MAX_INPUT_BYTES });

export async function prepareImage(bytes: Buffer, opts: PrepareOptions): Promise<PreparedImage> {
  const t0 = performance.now();
  // The header first: size and pixel count are checked before anything is decoded (decompression bombs).
  checkedBytes(bytes, opts.name);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageError('bad_image', `${opts.name} is not a readable image: ${(err as Error).message}`, { cause: err, image: opts.name });
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > DEFAULT_MAX_INPUT_PIXELS) {
    throw new ImageError('bad_image', `${opts.name} is ${meta.width}x${meta.height} pixels, above the ${DEFAULT_MAX_INPUT_PIXELS}-pixel limit`, { image: opts.name });
  }
  // Orientation 5-8 swaps width and height once the EXIF rotation is applied.
  const swapped = (meta.orientation ?? 1) >= 5;
  const dims = { width: (swapped ? meta.height : meta.width) ?? 0, height: (swapped ? meta.width : meta.height) ?? 0 };
  let face: FaceInfo | null = null;
  let source = bytes;
  let detectMs = 0;
  let decodeMs = 0;
  if (shouldDetect(opts.detect, opts.geometry, dims)) {
    const rgb = await decodeRgb(bytes, opts.name, { maxPixels: DEFAULT_MAX_INPUT_PIXELS, maxBytes: DEFAULT_MAX_INPUT_BYTES }).catch((err: Error) => {
      throw new ImageError('bad_image', err.message, { cause: err, image: opts.name });
    });
    decodeMs += performance.now() - t0;
    const t1 = performance.now();
    let selection;
    try {
      selection = await detectLargestFace(rgb, { name: opts.name, select: opts.select });
    } catch (err) {
      if (err instanceof SiamfaceError && err.code === 'no_face') throw new ImageError('no_face', err.message, { cause: err, image: opts.name });
      throw err;
    }
    face = { box: selection.face.box, landmarks: selection.face.landmarks, score: selection.face.score, faceCount: selection.faceCount };
    // The full 178x218 aligned frame, then the same centre crop as CelebA's aligned images get in training.
    source = await alignFace(rgb, selection.face.landmarks, { format: 'png', name: opts.name });
    detectMs = performance.now() - t1;
  }
  const t2 = performance.now();
  let jpeg: Buffer;
  try {
    jpeg = await preprocessImage(source, preprocessOpts(opts.inputSize));
  } catch (err) {
    if (err instanceof BadImageError) throw new ImageError('bad_image', `${opts.name}: ${err.reason}`, { cause: err, image: opts.name });
    throw err;
  }
  // As the training loader decodes a shard's JPEG.
  const size = opts.inputSize;
  const { data } = await sharp(jpeg).resize(size, size, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  decodeMs += performance.now() - t2 + (face ? 0 : t2 - t0);
  return { rgb: data, face, timings: { decode: decodeMs, detect: detectMs } };
}
