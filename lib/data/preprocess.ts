/**
 * The one image preprocessing path of the data stages: decode (sharp/libvips), orient, crop, resize, re-encode
 * as JPEG. Bad inputs are classified into a short reason instead of failing the stage.
 */
import sharp from 'sharp';

export type CropMode = 'centre' | 'face-align';

/**
 * Hook for unaligned photos: returns the aligned face (any image format sharp reads) or null when no face
 * is found. lib/face provides it; until it is wired, 'face-align' falls back to the centre crop.
 */
export type FaceAligner = (image: Buffer, size: number) => Promise<Buffer | null>;

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
export const DEFAULT_MAX_INPUT_PIXELS = 40_000_000;
export const DEFAULT_MAX_INPUT_BYTES = 50 * 1024 * 1024;
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
  if (opts.crop === 'face-align' && opts.aligner) {
    const aligned = await opts.aligner(data, opts.size);
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
