/**
 * The one image preparation path, shared by the data stages, training, evaluation and serving:
 *   1. preprocessImage: decode (sharp/libvips), orient, crop (centre square, or a detected face aligned
 *      into CelebA's frame or a face chip), resize to the dataset's image size, re-encode as JPEG
 *      (what a shard holds; serving runs the same function on its input);
 *   2. decodeForModel: that JPEG -> RGB bytes at the model's input size (the training loader's decode);
 *   3. lib/model/preprocess: the backbone's normalisation.
 * Bad inputs are classified into a short reason instead of failing the stage.
 */
import sharp from 'sharp';
import { CELEBA_ALIGNED_TEMPLATE, alignFace, isCelebaFrameSize } from '../face/align';

/**
 * 'centre': centre square (aligned sets such as CelebA aligned or LFW deep-funneled);
 * 'face-align': detect the face and warp it into CelebA's aligned frame, then its centre square;
 * 'face-chip': the tight face chip face-recognition backbones expect (lib/face/align FACE_CHIP_BOX);
 * images already in CelebA's aligned frame (178x218, e.g. Kaggle CelebA) are cropped without detection.
 */
export type CropMode = 'centre' | 'face-align' | 'face-chip';
export const CROP_MODES: readonly CropMode[] = ['centre', 'face-align', 'face-chip'];

/** True when a crop needs a detected face. */
export const cropNeedsFace = (crop: CropMode) => crop !== 'centre';

/**
 * Hook for unaligned photos: returns the face aligned into the crop's frame at `size` (any image format
 * sharp reads) or null when no face is found. lib/data/face-aligner.ts provides it (it loads the detector).
 */
export type FaceAligner = (image: Buffer, size: number, crop: Exclude<CropMode, 'centre'>) => Promise<Buffer | null>;

export interface PreprocessOptions {
  /** Output is size x size RGB. */
  size: number;
  crop: CropMode;
  /** Above this many pixels an input is treated as a decompression bomb. */
  maxInputPixels: number;
  /** Inputs larger than this many bytes are skipped. */
  maxInputBytes: number;
  aligner?: FaceAligner;
}

export const SHARD_JPEG_QUALITY = 95;
export { DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_PIXELS } from './image-limits';
const READABLE_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

/** An input that cannot become a training image; `reason` goes into the data-quality report. */
export class BadImageError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BadImageError';
  }
}

export async function preprocessImage(data: Buffer, opts: PreprocessOptions): Promise<Buffer> {
  if (data.length === 0) throw new BadImageError('empty file (0 bytes)');
  if (data.length > opts.maxInputBytes) throw new BadImageError(`file is ${data.length} bytes, above the ${opts.maxInputBytes}-byte limit`);
  let meta: sharp.Metadata;
  try {
    // Reads the header only: a bomb is rejected before any pixel is decoded.
    meta = await sharp(data, { limitInputPixels: false }).metadata();
  } catch (err) {
    const msg = (err as Error).message;
    throw new BadImageError(/unsupported image format/i.test(msg) ? 'not an image (unsupported format)' : `unreadable image header: ${msg}`);
  }
  if (!meta.format || !READABLE_FORMATS.has(meta.format)) throw new BadImageError(`unsupported image format ${meta.format ?? 'unknown'}`);
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w <= 0 || h <= 0) throw new BadImageError('image has no pixels');
  if (w * h > opts.maxInputPixels) throw new BadImageError(`image is ${w}x${h} pixels, above the ${opts.maxInputPixels}-pixel limit (decompression bomb?)`);

  let input = data;
  if (opts.crop === 'face-chip' && isCelebaFrameSize(orientedSize(meta))) {
    // Already in CelebA's aligned frame: its landmarks are the template, no detection needed.
    input = await alignFace(data, CELEBA_ALIGNED_TEMPLATE, { frame: 'face-chip', outputSize: opts.size, name: 'image' });
  } else if (opts.crop !== 'centre') {
    if (!opts.aligner) throw new Error(`preprocessImage: crop '${opts.crop}' needs a face aligner`);
    const aligned = await opts.aligner(data, opts.size, opts.crop);
    if (!aligned) throw new BadImageError('no face found');
    input = aligned;
  }
  try {
    // 'truncated' fails on cut-off files but tolerates the harmless warnings many real JPEGs carry.
    return await sharp(input, { limitInputPixels: opts.maxInputPixels, failOn: 'truncated', pages: 1 })
      .rotate() // EXIF orientation
      .resize(opts.size, opts.size, { fit: 'cover', position: 'centre', kernel: 'lanczos3' }) // centre square crop + resize
      .removeAlpha()
      .toColourspace('srgb')
      .jpeg({ quality: SHARD_JPEG_QUALITY, chromaSubsampling: '4:4:4' })
      .toBuffer();
  } catch (err) {
    throw new BadImageError(`corrupt or truncated image: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Width and height once the EXIF orientation is applied (orientations 5-8 swap them). */
export function orientedSize(meta: Pick<sharp.Metadata, 'width' | 'height' | 'orientation'>): { width: number; height: number } {
  const swapped = (meta.orientation ?? 1) >= 5;
  return { width: (swapped ? meta.height : meta.width) ?? 0, height: (swapped ? meta.width : meta.height) ?? 0 };
}

/** Step 2 of the path: a prepared JPEG (a shard entry) -> interleaved RGB bytes at the model's input side. */
export async function decodeForModel(jpeg: Buffer, inputSize: number): Promise<Buffer> {
  const out = await sharp(jpeg).resize(inputSize, inputSize, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (out.info.channels !== 3) throw new Error(`decoded to ${out.info.channels} channels, expected RGB`);
  return out.data;
}
