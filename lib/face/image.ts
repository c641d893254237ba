import sharp from 'sharp';
import { SiamfaceError } from '../errors';
import { DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_PIXELS } from '../data/image-limits';
import type { RgbImage } from './types';

/** Limits every decode honours: bytes and the header's pixel count are checked before any pixel is decoded. */
export interface DecodeLimits {
  maxPixels: number;
  maxBytes: number;
}

/** The serving path's defaults (the same as the dataset path's, lib/data/preprocess.ts). */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxPixels: DEFAULT_MAX_INPUT_PIXELS, maxBytes: DEFAULT_MAX_INPUT_BYTES };

/**
 * Decodes any format sharp reads (JPEG, PNG, WebP behind a .jpg name, grayscale) into upright
 * 8-bit RGB. EXIF orientation is applied so that landmarks and the aligned crop use the same pixels.
 * The header is checked first (decompression bombs), and sharp is held to the same pixel limit.
 */
export async function decodeRgb(image: Buffer | RgbImage, name = 'image', limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Promise<RgbImage> {
  if (!Buffer.isBuffer(image)) return image;
  if (image.length > limits.maxBytes) throw new SiamfaceError('bad_input', `cannot decode image ${name}: ${image.length} bytes, above the ${limits.maxBytes}-byte limit`);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(image, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new SiamfaceError('bad_input', `cannot decode image ${name}: ${(err as Error).message}`, { cause: err });
  }
  if ((meta.width ?? 0) * (meta.height ?? 0) > limits.maxPixels) {
    throw new SiamfaceError('bad_input', `cannot decode image ${name}: ${meta.width}x${meta.height} pixels, above the ${limits.maxPixels}-pixel limit`);
  }
  try {
    const { data, info } = await sharp(image, { limitInputPixels: limits.maxPixels, pages: 1 })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw new SiamfaceError('bad_input', `cannot decode image ${name}: ${(err as Error).message}`, { cause: err });
  }
}

/** PNG bytes of an RGB image (for reports, debugging and fixtures). */
export function encodePng(image: RgbImage): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
}
