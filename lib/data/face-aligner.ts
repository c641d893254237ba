/**
 * The 'face-align' and 'face-chip' crops for unaligned photos: detect the largest face (lib/face) and warp it into
 * CelebA's aligned frame (then centre-square + resize like every other image) or into a face chip. Loaded lazily:
 * face detection pulls in tfjs.
 */
import { SiamfaceError } from '../errors';
import type { FaceAligner } from './preprocess';

export async function createFaceAligner(): Promise<FaceAligner> {
  // require, not import: keeps this CommonJS build from loading tfjs until alignment is asked for.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { detectAndAlign } = require('../face/detect-and-align') as typeof import('../face/detect-and-align');
  return async (image, size, crop) => {
    try {
      return (await detectAndAlign(image, { outputSize: size, format: 'png', frame: crop === 'face-chip' ? 'face-chip' : 'celeba' })).aligned;
    } catch (err) {
      if (err instanceof SiamfaceError && err.code === 'no_face') return null;
      throw err;
    }
  };
}
