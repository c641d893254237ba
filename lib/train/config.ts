/**
 * Training configuration: one typed object with defaults merged in one place and validation that
 * names the bad field. Configs are data (JSON in workflow inputs); their hash ties checkpoints
 * to the config that wrote them.
 */
import { createHash } from 'node:crypto';
import { badInput } from '../errors';
import { BACKEND_PREFERENCES, type BackendPreference } from '../model/backend';
import { resolveModelConfig, type ModelConfig } from '../model/tower';
import { BACKBONES, backboneSpec, type BackboneName } from '../model/backbones';
import { DENSENET121_NOTOP_URL } from '../model/keras-weights';
import { stableJson } from '../data/sources';

/** Length of a phase: a number of epochs or a number of steps (steps wins when both are given). */
export interface PhaseConfig {
  epochs?: number;
  steps?: number;
  /** Peak learning rate of the phase (after warm-up). */
  lr: number;
}

export interface AugmentConfig {
  /** Horizontal flip with probability 1/2. */
  flip: boolean;
  /** Random zoom in [1, 1 + scaleJitter] followed by a random crop back to the input size; 0 disables. */
  scaleJitter: number;
  /** Brightness offset drawn from [-b, b] as a fraction of the 0..255 range; 0 disables. */
  brightness: number;
  /** Contrast factor drawn from [1 - c, 1 + c] around mid-grey; 0 disables. */
  contrast: number;
}

export type WeightsSource =
  /** Random initialisation. */
  | { kind: 'none' }
  /** The backbone's published weights: ImageNet (Keras, default URL) for densenet121, face-api.js's package files for faceres34. */
  | { kind: 'pretrained' }
  /** Keras DenseNet ImageNet "notop" .h5 from a URL, s3:// URI or local path (cached in S3 under a key derived from it). */
  | { kind: 'imagenet'; location: string };

export const LOSS_KINDS = ['contrastive', 'cosface', 'arcface', 'none'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];

/**
 * The training objective. 'contrastive' is the pair loss on the Euclidean distance (margin: the
 * top-level `margin`). 'cosface' / 'arcface' are additive-margin softmax over the train split's
 * identities (InsightFace defaults: s = 64; m = 0.35 cosine margin, 0.5 angular margin), optionally
 * plus `pairWeight` x the contrastive loss. 'none' is allowed with a teacher: distillation alone.
 */
export type LossConfig =
  | { kind: 'contrastive' }
  | { kind: 'none' }
  | {
      kind: 'cosface' | 'arcface';
      scale: number;
      margin: number;
      pairWeight: number;
      /** Where the class centres start: each identity's mean embedding under the initial weights (default with pretrained weights), or random. */
      centres: 'class-mean' | 'random';
    };

export const MARGIN_LOSS_DEFAULTS = { cosface: { scale: 64, margin: 0.35 }, arcface: { scale: 64, margin: 0.5 } } as const;

/** Distillation: the student matches a face-pretrained teacher's normalised embedding (1 - cosine), on every training image. */
export interface TeacherConfig {
  backbone: BackboneName;
  /** Weight of the distillation term in the total loss. */
  weight: number;
}

export interface TrainConfig {
  /** Square input side of the model; shard images of another size are resized on load. */
  imageSize: number;
  /** Tower config; its inputSize is always set from imageSize. */
  model: Partial<Omit<ModelConfig, 'inputSize'>>;
  weights: WeightsSource;
  /** Pairs per step (the tower sees 2 x batchSize images). */
  batchSize: number;
  /** Head only, backbone frozen. */
  phase1: PhaseConfig;
  /** All layers, lower learning rate. */
  phase2: PhaseConfig;
  /** Linear warm-up steps at the start of each phase. */
  warmupSteps: number;
  /** The cosine decay ends at lr x minLrFraction at the end of each phase. */
  minLrFraction: number;
  /** Contrastive loss margin. */
  margin: number;
  loss: LossConfig;
  teacher: TeacherConfig | null;
  checkpointEverySteps: number;
  /** Complete checkpoints kept (older ones are deleted after a newer one is complete). */
  keepCheckpoints: number;
  seed: number;
  /** Caps the steps of an epoch (an epoch is otherwise one pass over the train pairs). */
  stepsPerEpoch?: number;
  /** Validation pairs used for the per-epoch ROC AUC (the first N of the val pairs file); 0 disables validation. */
  valPairsLimit: number;
  augment: AugmentConfig;
  /** Batches prepared ahead of the training step. */
  prefetch: number;
  /** Decoded images kept in memory (LRU). */
  decodedCacheImages: number;
  /** Whole shards are fetched and cached when the needed shards total at most this many bytes; else ranged reads per image. */
  shardCacheBytes: number;
  backend: BackendPreference;
  /** How often (in steps) the stop-request object is checked. */
  stopCheckEverySteps: number;
  /** Weights exported as the final model: the best validation AUC checkpoint, or the last step. */
  finalWeights: 'best' | 'last';
}

export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = Object.freeze({
  imageSize: 112,
  model: {},
  weights: { kind: 'imagenet', location: DENSENET121_NOTOP_URL } as WeightsSource,
  batchSize: 16,
  phase1: { epochs: 2, lr: 1e-3 },
  phase2: { epochs: 8, lr: 1e-4 },
  warmupSteps: 100,
  minLrFraction: 0.01,
  margin: 1.0,
  loss: { kind: 'contrastive' } as LossConfig,
  teacher: null as TeacherConfig | null,
  checkpointEverySteps: 200,
  keepCheckpoints: 3,
  seed: 1,
  valPairsLimit: 1000,
  augment: { flip: true, scaleJitter: 0.1, brightness: 0.1, contrast: 0.1 },
  prefetch: 2,
  decodedCacheImages: 2048,
  shardCacheBytes: 256 * 1024 * 1024,
  backend: 'auto' as BackendPreference,
  stopCheckEverySteps: 10,
  finalWeights: 'best' as const,
});

/** A config as callers write it: any field may be left out; `loss` may be just its kind. */
export type TrainConfigInput = Partial<Omit<TrainConfig, 'phase1' | 'phase2' | 'augment' | 'loss' | 'teacher'>> & {
  phase1?: Partial<PhaseConfig>;
  phase2?: Partial<PhaseConfig>;
  augment?: Partial<AugmentConfig>;
  loss?: LossKind | ({ kind: LossKind } & Partial<{ scale: number; margin: number; pairWeight: number; centres: 'class-mean' | 'random' }>);
  teacher?: ({ backbone: BackboneName } & Partial<TeacherConfig>) | null;
};

const fail = (field: string, want: string, got: unknown) => badInput(`train config: ${field} must be ${want}, got ${JSON.stringify(got)}`, { field });

function int(field: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw fail(field, `an integer >= ${min}`, v);
  return v;
}

function num(field: string, v: unknown, min: number, max: number, openMin = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (openMin && v === min)) {
    throw fail(field, `a number in ${openMin ? '(' : '['}${min}, ${max}]`, v);
  }
  return v;
}

function checkKeys(where: string, obj: object, known: readonly string[]): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw badInput(`train config: ${where.replace(/\.$/, '') || '(root)'} must be an object`, { field: where.replace(/\.$/, '') });
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) throw badInput(`train config: unknown field '${where}${k}' (known: ${known.join(', ')})`, { field: `${where}${k}` });
  }
}

function phase(name: 'phase1' | 'phase2', p: Partial<PhaseConfig> | undefined): PhaseConfig {
  const def = DEFAULT_TRAIN_CONFIG[name];
  const given = p ?? {};
  checkKeys(`${name}.`, given, ['epochs', 'steps', 'lr']);
  // Steps given alone replace the default epochs.
  const out: PhaseConfig = { lr: given.lr ?? def.lr };
  if (given.steps !== undefined) out.steps = int(`${name}.steps`, given.steps, 0);
  else out.epochs = int(`${name}.epochs`, given.epochs ?? def.epochs, 0);
  if (given.steps !== undefined && given.epochs !== undefined) out.epochs = int(`${name}.epochs`, given.epochs, 0);
  num(`${name}.lr`, out.lr, 0, 10, true);
  return out;
}

function resolveLoss(given: TrainConfigInput['loss'], pretrained: boolean): LossConfig {
  const obj = typeof given === 'string' ? { kind: given } : (given ?? { kind: 'contrastive' as const });
  checkKeys('loss.', obj, ['kind', 'scale', 'margin', 'pairWeight', 'centres']);
  const kind = obj.kind;
  if (!(LOSS_KINDS as readonly string[]).includes(kind as string)) throw fail('loss.kind', `one of ${LOSS_KINDS.join(', ')}`, kind);
  if (kind === 'contrastive' || kind === 'none') {
    for (const k of ['scale', 'margin', 'pairWeight', 'centres'] as const) {
      if (k in obj) throw badInput(`train config: loss.${k} applies to cosface and arcface only (the contrastive margin is training.margin)`, { field: `loss.${k}` });
    }
    return { kind };
  }
  const def = MARGIN_LOSS_DEFAULTS[kind];
  const o = obj as { scale?: number; margin?: number; pairWeight?: number; centres?: unknown };
  const centres = o.centres ?? (pretrained ? 'class-mean' : 'random');
  if (centres !== 'class-mean' && centres !== 'random') throw fail('loss.centres', "'class-mean' or 'random'", centres);
  return {
    kind,
    scale: num('loss.scale', o.scale ?? def.scale, 0, 1024, true),
    margin: num('loss.margin', o.margin ?? def.margin, 0, kind === 'arcface' ? Math.PI / 2 : 1),
    pairWeight: num('loss.pairWeight', o.pairWeight ?? 0, 0, 100),
    centres,
  };
}

function resolveTeacher(given: TrainConfigInput['teacher']): TeacherConfig | null {
  if (given === undefined || given === null) return null;
  checkKeys('teacher.', given, ['backbone', 'weight']);
  const spec = backboneSpec(given.backbone, 'train config: teacher.backbone');
  if (spec.pretrained !== 'face-api') throw badInput(`train config: teacher.backbone must be a face-pretrained backbone (faceres34), got ${spec.name}`, { field: 'teacher.backbone' });
  return { backbone: spec.name, weight: num('teacher.weight', given.weight ?? 1, 0, 100, true) };
}

/** Merges defaults and validates; every error names the field. */
export function resolveTrainConfig(input: TrainConfigInput = {}): TrainConfig {
  checkKeys('', input, Object.keys(DEFAULT_TRAIN_CONFIG).concat('stepsPerEpoch'));
  const d = DEFAULT_TRAIN_CONFIG;
  const augment: AugmentConfig = { ...d.augment, ...(input.augment ?? {}) };
  checkKeys('augment.', augment, Object.keys(d.augment));
  const model = { ...(input.model ?? {}) };
  let backbone: BackboneName;
  try {
    backbone = backboneSpec((model as { backbone?: unknown }).backbone ?? 'densenet121', 'train config: model.backbone').name;
  } catch (err) {
    throw badInput((err as Error).message, { field: 'model.backbone' });
  }
  const fixedSize = BACKBONES[backbone].fixedInputSize;
  const weights = input.weights ?? (backbone === 'densenet121' ? d.weights : { kind: 'pretrained' as const });
  const cfg: TrainConfig = {
    ...d,
    ...input,
    // A backbone with a fixed input size sets the default image size.
    imageSize: input.imageSize ?? fixedSize ?? d.imageSize,
    model,
    weights,
    phase1: phase('phase1', input.phase1),
    phase2: phase('phase2', input.phase2),
    augment,
    loss: resolveLoss(input.loss, (weights as { kind?: string } | undefined)?.kind !== 'none'),
    teacher: resolveTeacher(input.teacher),
  };
  int('imageSize', cfg.imageSize, 16);
  int('batchSize', cfg.batchSize, 1);
  int('warmupSteps', cfg.warmupSteps, 0);
  num('minLrFraction', cfg.minLrFraction, 0, 1);
  num('margin', cfg.margin, 0, 2, true);
  int('checkpointEverySteps', cfg.checkpointEverySteps, 1);
  int('keepCheckpoints', cfg.keepCheckpoints, 1);
  int('seed', cfg.seed, 0);
  if (cfg.stepsPerEpoch !== undefined) int('stepsPerEpoch', cfg.stepsPerEpoch, 1);
  int('valPairsLimit', cfg.valPairsLimit, 0);
  if (typeof augment.flip !== 'boolean') throw fail('augment.flip', 'a boolean', augment.flip);
  num('augment.scaleJitter', augment.scaleJitter, 0, 1);
  num('augment.brightness', augment.brightness, 0, 1);
  num('augment.contrast', augment.contrast, 0, 1);
  int('prefetch', cfg.prefetch, 0);
  int('decodedCacheImages', cfg.decodedCacheImages, 0);
  int('shardCacheBytes', cfg.shardCacheBytes, 0);
  int('stopCheckEverySteps', cfg.stopCheckEverySteps, 1);
  if (!BACKEND_PREFERENCES.includes(cfg.backend)) throw fail('backend', `one of ${BACKEND_PREFERENCES.join(', ')}`, cfg.backend);
  if (cfg.finalWeights !== 'best' && cfg.finalWeights !== 'last') throw fail('finalWeights', "'best' or 'last'", cfg.finalWeights);
  const w = cfg.weights as WeightsSource | undefined;
  if (!w || (w.kind !== 'none' && w.kind !== 'imagenet' && w.kind !== 'pretrained')) throw fail('weights.kind', "'none', 'pretrained' or 'imagenet'", (w as { kind?: unknown } | undefined)?.kind);
  if (w.kind === 'imagenet' && backbone !== 'densenet121') throw badInput(`train config: weights.kind 'imagenet' is for densenet121; backbone ${backbone} loads its own with 'pretrained'`, { field: 'weights.kind' });
  if (w.kind === 'imagenet' && (typeof w.location !== 'string' || w.location === '')) throw fail('weights.location', 'a URL, s3:// URI or path', w.location);
  checkKeys('weights.', w, w.kind === 'imagenet' ? ['kind', 'location'] : ['kind']);
  if ('inputSize' in cfg.model) throw badInput('train config: model.inputSize is set from imageSize; leave it out', { field: 'model.inputSize' });
  if (fixedSize !== null && cfg.imageSize !== fixedSize) throw badInput(`train config: imageSize must be ${fixedSize} for backbone ${backbone} (its pretrained input size), got ${cfg.imageSize}`, { field: 'imageSize' });
  let modelCfg: ModelConfig;
  try {
    modelCfg = resolveModelConfig(modelConfigOf(cfg));
  } catch (err) {
    throw badInput(`train config: model: ${(err as Error).message}`, { field: 'model' });
  }
  if (cfg.loss.kind === 'none' && !cfg.teacher) throw badInput("train config: loss.kind 'none' (distillation alone) needs a teacher", { field: 'loss.kind' });
  if (cfg.teacher && BACKBONES[cfg.teacher.backbone].defaultEmbeddingDim !== modelCfg.embeddingDim) {
    throw badInput(
      `train config: teacher.backbone ${cfg.teacher.backbone} gives ${BACKBONES[cfg.teacher.backbone].defaultEmbeddingDim}-d embeddings but the student's model.embeddingDim is ${modelCfg.embeddingDim}; they must match`,
      { field: 'teacher.backbone' },
    );
  }
  return cfg;
}

/** The tower config of a training config. */
export function modelConfigOf(cfg: TrainConfig): ModelConfig {
  return resolveModelConfig({ ...cfg.model, inputSize: cfg.imageSize });
}

/** Fields that change how a run is executed but not what it computes: a resume may change them. */
const EXECUTION_ONLY: readonly (keyof TrainConfig)[] = ['prefetch', 'decodedCacheImages', 'shardCacheBytes', 'backend', 'stopCheckEverySteps', 'checkpointEverySteps', 'keepCheckpoints'];

/** Short stable hash of what determines the training trajectory (config + data); checkpoints of another hash are refused. */
export function trainConfigHash(cfg: TrainConfig, data: Record<string, unknown>): string {
  const trajectory: Record<string, unknown> = { ...cfg };
  for (const k of EXECUTION_ONLY) delete trajectory[k];
  return createHash('sha256').update(stableJson({ cfg: trajectory, data })).digest('hex').slice(0, 16);
}
