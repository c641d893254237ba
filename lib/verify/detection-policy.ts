/**
 * Whether an input image goes through face detection + alignment or the plain centre crop, so that
 * serving reproduces the geometry the model was trained on:
 *
 * - The model learned CelebA's aligned frame (its shards used crop 'face-align', or it trained on
 *   Kaggle CelebA's aligned images): photos are detected and warped into that frame; an input that
 *   already has the frame's size (178x218) is taken as an aligned crop and only centre-cropped.
 * - The model learned some other data set's own crops with a centre crop (e.g. LFW deep-funneled):
 *   inputs are expected to be crops of the same kind, so no detection (alignment to CelebA's frame
 *   would give a geometry the model never saw). Use detect 'always' to force it.
 */
import { CELEBA_ALIGNED_HEIGHT, CELEBA_ALIGNED_WIDTH } from '../face/align';
import { badInput } from '../errors';
import type { ModelCard } from '../registry/model-card';
import type { DetectMode } from './types';

/** What the training crops look like, from the card. */
export type TrainingGeometry = 'celeba-aligned' | 'dataset-crop';

export function trainingGeometry(card: Pick<ModelCard, 'model' | 'training'>): TrainingGeometry {
  const crop = card.model.preprocessing.crop;
  if (crop === 'face-align') return 'celeba-aligned';
  const source = (card.training.config as { dataset?: { source?: { kind?: string } } }).dataset?.source;
  return source?.kind === 'kaggle-celeba' ? 'celeba-aligned' : 'dataset-crop';
}

export function checkDetectMode(mode: unknown): DetectMode {
  if (mode === undefined) return 'auto';
  if (mode === 'auto' || mode === 'always' || mode === 'never') return mode;
  throw badInput(`detect must be 'auto', 'always' or 'never', got ${JSON.stringify(mode)}`);
}

/** True when this image should be detected and aligned. */
export function shouldDetect(mode: DetectMode, geometry: TrainingGeometry, image: { width: number; height: number }): boolean {
  if (mode !== 'auto') return mode === 'always';
  if (geometry === 'dataset-crop') return false;
  return !(image.width === CELEBA_ALIGNED_WIDTH && image.height === CELEBA_ALIGNED_HEIGHT);
}
