/**
 * Detection + alignment in one call, for the two places that need it: the data stage's
 * 'face-align' crop mode (lib/data/preprocess FaceAligner hook) and verification of unaligned photos.
 */
import { SiamfaceError } from '../errors';
import type { FaceAligner } from '../data/preprocess';
import { alignFace } from './align';
import { detectLargestFace, type FaceSelection, type SelectOptions } from './detector';
import { decodeRgb } from './image';
import type { RgbImage } from './types';

export interface AlignedFace extends FaceSelection {
  /** outputSize x outputSize interleaved RGB (raw) or PNG, after the training centre-square crop + resize. */
  aligned: Buffer;
}

/** Finds the face to verify (largest by default) and returns it aligned. Throws 'no_face' when none. */
export async function detectAndAlign(
  image: Buffer | RgbImage,
  options: SelectOptions & { outputSize: number; format?: 'png' | 'raw' },
): Promise<AlignedFace> {
  const rgb = await decodeRgb(image, options.name);
  const selection = await detectLargestFace(rgb, options);
  const aligned = await alignFace(rgb, selection.face.landmarks, { outputSize: options.outputSize, format: options.format ?? 'raw', name: options.name });
  return { ...selection, aligned };
}

/**
 * The hook lib/data/preprocess calls in 'face-align' mode: the 178x218 CelebA-aligned frame as PNG
 * (preprocess then applies its own centre-square crop + resize), or null when there is no face.
 */
export function createFaceAligner(options: SelectOptions = {}): FaceAligner {
  return async (image) => {
    try {
      const rgb = await decodeRgb(image, options.name);
      const { face } = await detectLargestFace(rgb, options);
      return await alignFace(rgb, face.landmarks, { format: 'png' });
    } catch (err) {
      if (err instanceof SiamfaceError && err.code === 'no_face') return null;
      throw err;
    }
  };
}
