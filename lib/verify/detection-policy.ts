/**
 * How a served model's inputs are prepared, read from its model card, so that serving reproduces the
 * images the model was trained on (lib/data/preprocess is the one preparation path):
 *
 * - geometry: what the training crops look like.
 *   - 'celeba-aligned': the model learned CelebA's aligned frame (its shards used crop 'face-align', or
 *     it trained on Kaggle CelebA's aligned images): photos are detected and warped into that frame; an
 *     input that already has the frame's size (178x218) is taken as an aligned crop and only centre-cropped.
 *   - 'face-chip': the model learned tight face chips (crop 'face-chip'): photos are detected and warped
 *     into a chip; a 178x218 input is taken as an aligned CelebA crop and cut to the chip without detection.
 *   - 'dataset-crop': the model learned some other data set's own crops with a centre crop (e.g. LFW
 *     deep-funneled): inputs are expected to be crops of the same kind, so no detection (alignment to
 *     CelebA's frame would give a geometry the model never saw). Use detect 'always' to force it.
 * - datasetImageSize: the side of the prepared JPEG (the shards' image size), then resized to inputSize.
 * - normalization: the backbone's, as recorded on the card.
 */
import { isCelebaFrameSize } from '../face/align';
import { badInput } from '../errors';
import { IMAGENET_NORMALIZATION, checkNormalization, type Normalization } from '../model/preprocess';
import type { ModelCard } from '../registry/model-card';
import type { DetectMode } from './types';

/** What the training crops look like, from the card. */
export type TrainingGeometry = 'celeba-aligned' | 'face-chip' | 'dataset-crop';

export interface ImagePrep {
  /** The model's input side. */
  inputSize: number;
  /** The side images are prepared at before the resize to inputSize (the dataset's shard size). */
  datasetImageSize: number;
  geometry: TrainingGeometry;
  normalization: Normalization;
}

export function trainingGeometry(card: Pick<ModelCard, 'model' | 'training'>): TrainingGeometry {
  const crop = card.model.preprocessing.crop;
  if (crop === 'face-chip') return 'face-chip';
  if (crop === 'face-align') return 'celeba-aligned';
  const source = (card.training.config as { dataset?: { source?: { kind?: string } } }).dataset?.source;
  return source?.kind === 'kaggle-celeba' ? 'celeba-aligned' : 'dataset-crop';
}

/** The card's preparation; cards written before backbones had their own normalisation mean ImageNet's. */
export function imagePrepOf(card: Pick<ModelCard, 'model' | 'training' | 'name' | 'version'>, inputSize: number): ImagePrep {
  const pre = card.model.preprocessing as { datasetImageSize?: unknown; mean?: unknown; std?: unknown };
  const datasetImageSize = typeof pre.datasetImageSize === 'number' && pre.datasetImageSize > 0 ? pre.datasetImageSize : inputSize;
  const normalization = pre.mean === undefined && pre.std === undefined ? IMAGENET_NORMALIZATION : checkNormalization(pre, `model ${card.name} v${card.version} card preprocessing`);
  return { inputSize, datasetImageSize, geometry: trainingGeometry(card), normalization };
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
  return !isCelebaFrameSize(image);
}
