/**
 * Detection + alignment in one call (one decode): the one detect-then-align step for unaligned photos, used by
 * serving (lib/verify/prepare-image) and by the data stage's 'face-align' and 'face-chip' crops (lib/data/face-aligner).
 */
import { alignFace, type FaceFrame } from './align';
import { detectLargestFace, type FaceSelection, type SelectOptions } from './detector';
import { decodeRgb } from './image';
import type { RgbImage } from './types';

export interface AlignedFace extends FaceSelection {
  /** outputSize x outputSize interleaved RGB (raw) or PNG, after the training centre-square crop + resize. */
  aligned: Buffer;
}

/** Finds the face to verify (largest by default) and returns it aligned into `frame` (default CelebA's). Throws 'no_face' when none. */
export async function detectAndAlign(
  image: Buffer | RgbImage,
  options: SelectOptions & { outputSize: number; format?: 'png' | 'raw'; frame?: FaceFrame },
): Promise<AlignedFace> {
  const rgb = await decodeRgb(image, options.name);
  const selection = await detectLargestFace(rgb, options);
  const aligned = await alignFace(rgb, selection.face.landmarks, { outputSize: options.outputSize, format: options.format ?? 'raw', frame: options.frame, name: options.name });
  return { ...selection, aligned };
}
