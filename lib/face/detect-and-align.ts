/**
 * Detection + alignment in one call (one decode), for verifying unaligned photos. The data stage's
 * 'face-align' crop uses the same two functions through lib/data/face-aligner.ts.
 */
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
