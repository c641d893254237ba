/**
 * The 'face-align' crop for unaligned photos: detect the largest face (lib/face) and warp it to CelebA's aligned
 * geometry, then centre-square + resize like every other image. Loaded lazily: face detection pulls in tfjs.
 */
import { SiamfaceError } from '../errors';
import type { FaceAligner } from './preprocess';

export async function createFaceAligner(): Promise<FaceAligner> {
  // require, not import: keeps this CommonJS build from loading tfjs until alignment is asked for.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { detectLargestFace } = require('../face/detector') as typeof import('../face/detector');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { alignFace } = require('../face/align') as typeof import('../face/align');
  return async (image, size) => {
    try {
      const selection = await detectLargestFace(image);
      return await alignFace(image, selection.face.landmarks, { outputSize: size });
    } catch (err) {
      if (err instanceof SiamfaceError && err.code === 'no_face') return null;
      throw err;
    }
  };
}
