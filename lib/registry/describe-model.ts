/**
 * What a run's model is (backbone, input size, embedding size, preprocessing, backend), for its model
 * card: from the `userDefinedMetadata` the trainer saves in `runs/<run>/model/model.json`, falling back
 * to the pipeline config for anything missing.
 */
import type { ObjectStore } from '../storage/object-store';
import { IMAGENET_MEAN, IMAGENET_STD } from '../model/preprocess';
import type { ModelDescription } from './model-card';
import { modelPrefix as runModelPrefix, modelSidecarKey } from '../train/run-layout';
import type { SiamfaceModelJson } from '../train/train-model';

/** Metadata fields read from model.json (all optional). */
export interface SavedModelMetadata {
  backend?: string;
  backbone?: string;
  /** Objective and starting weights, as the trainer recorded them. */
  training?: Record<string, unknown>;
  model?: { inputSize?: number; blocks?: number[]; growthRate?: number; embeddingDim?: number };
  preprocessing?: Record<string, unknown>;
}

const DENSENET121_BLOCKS = [6, 12, 24, 16];

export function backboneName(blocks?: number[], growthRate?: number): string {
  if (!blocks) return 'densenet121';
  if (blocks.join(',') === DENSENET121_BLOCKS.join(',') && (growthRate ?? 32) === 32) return 'densenet121';
  return `densenet(blocks=${blocks.join('-')},growth=${growthRate ?? 32})`;
}

/** Pure: combines saved metadata and the pipeline config (either may be partial). */
export function describeModel(meta: SavedModelMetadata | undefined, pipelineConfig: Record<string, unknown> = {}): ModelDescription {
  const cfgPre = (pipelineConfig.preprocessing ?? {}) as { imageSize?: number; crop?: string };
  const cfgTraining = (pipelineConfig.training ?? {}) as { imageSize?: number; model?: { blocks?: number[]; growthRate?: number; embeddingDim?: number } };
  const blocks = meta?.model?.blocks ?? cfgTraining.model?.blocks;
  const growthRate = meta?.model?.growthRate ?? cfgTraining.model?.growthRate;
  const inputSize = meta?.model?.inputSize ?? cfgTraining.imageSize ?? cfgPre.imageSize ?? 0;
  return {
    backbone: meta?.backbone ?? backboneName(blocks, growthRate),
    inputSize,
    embeddingDim: meta?.model?.embeddingDim ?? cfgTraining.model?.embeddingDim,
    preprocessing: meta?.preprocessing ?? {
      crop: cfgPre.crop ?? 'centre',
      resize: inputSize,
      colour: 'RGB',
      normalise: 'x / 255, minus ImageNet mean, divided by ImageNet std (Keras DenseNet "torch" mode)',
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
    },
    backend: meta?.backend ?? 'unknown',
    ...(meta?.training ? { training: meta.training } : {}),
  };
}

/** The trainer's sidecar (runs/<run>/model/siamface-model.json) as a SavedModelMetadata. */
function fromSidecar(sidecar: SiamfaceModelJson): SavedModelMetadata {
  const blocks = sidecar.model.blocks;
  return {
    backend: sidecar.backend.backend,
    backbone: sidecar.model.backbone === 'faceres34' ? 'faceres34' : backboneName(blocks ?? [6, 12, 24, 16], sidecar.model.growthRate),
    model: { inputSize: sidecar.preprocessing.inputSize, blocks, growthRate: sidecar.model.growthRate, embeddingDim: sidecar.model.embeddingDim },
    preprocessing: { ...sidecar.preprocessing },
    training: {
      head: sidecar.model.head,
      loss: sidecar.loss,
      ...(sidecar.teacher ? { teacher: sidecar.teacher } : {}),
      ...(sidecar.initialWeights ? { initialWeights: sidecar.initialWeights } : {}),
    },
  };
}

export async function describeRunModel(store: Pick<ObjectStore, 'getJsonIfExists'>, runId: string, pipelineConfig: Record<string, unknown> = {}): Promise<ModelDescription> {
  const sidecar = await store.getJsonIfExists<SiamfaceModelJson>(modelSidecarKey(runModelPrefix(runId)));
  if (sidecar) return describeModel(fromSidecar(sidecar.value), pipelineConfig);
  const saved = await store.getJsonIfExists<{ userDefinedMetadata?: SavedModelMetadata }>(`${runModelPrefix(runId)}model.json`);
  return describeModel(saved?.value.userDefinedMetadata, pipelineConfig);
}
