import sharp from 'sharp';
import { SiamfaceError } from '../errors';
import type { RgbImage } from './types';

/**
 * Decodes any format sharp reads (JPEG, PNG, WebP behind a .jpg name, grayscale) into upright
 * 8-bit RGB. EXIF orientation is applied so that landmarks and the aligned crop use the same pixels.
 */
export async function decodeRgb(image: Buffer | RgbImage, name = 'image'): Promise<RgbImage> {
  if (!Buffer.isBuffer(image)) return image;
  try {
    const { data, info } = await sharp(image)
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
