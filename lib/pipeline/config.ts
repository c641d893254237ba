/**
 * The trainingPipeline's input: one JSON document, validated here with errors that name the field.
 * Pure TypeScript (no Node modules) so the workflow can validate it before scheduling anything.
 * Secrets are never part of it: Kaggle and S3 credentials come from the workers' environment.
 */
import type { DatasetSource } from '../data/sources';
import { redactDeep, redactUrl } from '../redact';
import { TASK_QUEUES } from '../constants';
import { isSafeName, SAFE_NAME_RULE } from '../registry/keys';

export interface PipelineConfig {
  /** Where the images come from. Default: Kaggle CelebA (needs `dataset.source.identityFile`). */
  dataset: { source: DatasetSource; id?: string };
  preprocessing: { imageSize: number; crop: 'centre' | 'face-align' | 'face-chip'; shardSize: number; maxBadFraction: number };
  split: { seed: number; fractions: { train: number; val: number; test: number } };
  pairs: { seed: number; perSplit: { train: number; val: number; test: number } };
  /** Training hyper-parameters (lib/train/config.ts documents each; unset fields take its defaults). */
  training: Record<string, unknown>;
  evaluation: { targetFar: number; batchSize: number };
  promotion: { modelName: string; metric: 'rocAuc' | 'accuracy' | 'tarAtFar1e2' | string; margin: number; enabled: boolean };
  /** Give a run id to train again from scratch with an otherwise identical config. */
  runId?: string;
  /** Task queues; override only to route a pipeline to dedicated workers. */
  taskQueues: { cpu: string; gpu: string };
  /**
   * Heartbeat timeouts (seconds): how fast a killed worker's activity is retried elsewhere. Heartbeats come from a
   * timer every few seconds, so the timeout only has to exceed the longest event-loop block (one training step:
   * about 5 s for DenseNet121 at 128 px on 2 CPU cores, bench/heartbeat-lag).
   */
  heartbeatTimeoutSeconds: { data: number; train: number; evaluate: number };
}

export type PipelineConfigInput = { dataset: PipelineConfig['dataset'] } & { [K in Exclude<keyof PipelineConfig, 'dataset'>]?: Partial<PipelineConfig[K]> | PipelineConfig[K] };

export const PIPELINE_DEFAULTS: Omit<PipelineConfig, 'dataset'> = {
  preprocessing: { imageSize: 128, crop: 'centre', shardSize: 1000, maxBadFraction: 0.05 },
  split: { seed: 0, fractions: { train: 0.8, val: 0.1, test: 0.1 } },
  pairs: { seed: 1, perSplit: { train: 20000, val: 2000, test: 2000 } },
  training: {},
  evaluation: { targetFar: 1e-3, batchSize: 32 },
  promotion: { modelName: 'siamface', metric: 'rocAuc', margin: 0, enabled: true },
  taskQueues: { ...TASK_QUEUES },
  heartbeatTimeoutSeconds: { data: 120, train: 60, evaluate: 120 },
};

export class PipelineConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`invalid pipeline config: ${field}: ${message}`);
    this.name = 'PipelineConfigError';
  }
}

const KNOWN_TOP = new Set(['dataset', ...Object.keys(PIPELINE_DEFAULTS), 'runId']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge<T extends Record<string, unknown>>(field: string, def: T, given: unknown): T {
  if (given === undefined) return structuredCloneJson(def);
  if (!isObject(given)) throw new PipelineConfigError(field, 'must be an object');
  const out: Record<string, unknown> = structuredCloneJson(def);
  for (const [k, v] of Object.entries(given)) {
    // Own properties only: '__proto__' or 'constructor' in the input are unknown fields, not inherited ones.
    if (!Object.prototype.hasOwnProperty.call(def, k) && Object.keys(def).length > 0) throw new PipelineConfigError(`${field}.${k}`, `unknown field (known: ${Object.keys(def).join(', ')})`);
    out[k] = Object.prototype.hasOwnProperty.call(def, k) && isObject(def[k]) ? merge(`${field}.${k}`, def[k] as Record<string, unknown>, v) : v;
  }
  return out as T;
}

function structuredCloneJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function positiveInt(field: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max) throw new PipelineConfigError(field, `must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` <= ${max}` : ''}, got ${JSON.stringify(v)}`);
  return v;
}

function fraction(field: string, v: unknown, { open = false } = {}): number {
  if (typeof v !== 'number' || !(open ? v > 0 && v < 1 : v >= 0 && v <= 1)) throw new PipelineConfigError(field, `must be a number in ${open ? '(0, 1)' : '[0, 1]'}, got ${JSON.stringify(v)}`);
  return v;
}

/** Fills defaults and validates; throws PipelineConfigError naming the first bad field. */
export function resolvePipelineConfig(input: unknown): PipelineConfig {
  if (!isObject(input)) throw new PipelineConfigError('(root)', 'the pipeline input must be a JSON object');
  for (const k of Object.keys(input)) if (!KNOWN_TOP.has(k)) throw new PipelineConfigError(k, `unknown field (known: ${[...KNOWN_TOP].join(', ')})`);
  const dataset = input.dataset;
  if (!isObject(dataset) || !isObject(dataset.source)) throw new PipelineConfigError('dataset.source', 'is required, e.g. {"kind":"folder","location":"/data/faces"} or {"kind":"kaggle-celeba","identityFile":"..."}');
  const kind = dataset.source.kind;
  if (kind !== 'folder' && kind !== 'kaggle-celeba') throw new PipelineConfigError('dataset.source.kind', `must be 'folder' or 'kaggle-celeba', got ${JSON.stringify(kind)}`);
  if (kind === 'folder' && (typeof dataset.source.location !== 'string' || !dataset.source.location)) throw new PipelineConfigError('dataset.source.location', 'is required for a folder source (directory, s3:// prefix or http(s):// archive)');
  if (kind === 'kaggle-celeba' && (typeof dataset.source.identityFile !== 'string' || !dataset.source.identityFile)) throw new PipelineConfigError('dataset.source.identityFile', 'is required for Kaggle CelebA (URL, s3:// URI or path of identity_CelebA.txt)');
  for (const key of Object.keys(dataset.source)) {
    if (/key|secret|password|token/i.test(key) && key !== 'identityFile') throw new PipelineConfigError(`dataset.source.${key}`, 'secrets do not belong in the pipeline input: set them in the workers\' environment');
  }
  if (dataset.id !== undefined && !isSafeName(dataset.id)) throw new PipelineConfigError('dataset.id', `must be ${SAFE_NAME_RULE}`);

  const cfg: PipelineConfig = {
    dataset: { source: dataset.source as unknown as DatasetSource, ...(dataset.id ? { id: dataset.id as string } : {}) },
    preprocessing: merge('preprocessing', PIPELINE_DEFAULTS.preprocessing, input.preprocessing),
    split: merge('split', PIPELINE_DEFAULTS.split, input.split),
    pairs: merge('pairs', PIPELINE_DEFAULTS.pairs, input.pairs),
    training: isObject(input.training) ? structuredCloneJson(input.training) : input.training === undefined ? {} : fail('training', 'must be an object'),
    evaluation: merge('evaluation', PIPELINE_DEFAULTS.evaluation, input.evaluation),
    promotion: merge('promotion', PIPELINE_DEFAULTS.promotion, input.promotion),
    taskQueues: merge('taskQueues', PIPELINE_DEFAULTS.taskQueues, input.taskQueues),
    heartbeatTimeoutSeconds: merge('heartbeatTimeoutSeconds', PIPELINE_DEFAULTS.heartbeatTimeoutSeconds, input.heartbeatTimeoutSeconds),
    ...(input.runId !== undefined ? { runId: input.runId as string } : {}),
  };
  positiveInt('preprocessing.imageSize', cfg.preprocessing.imageSize, 1024);
  if (cfg.preprocessing.imageSize < 32) throw new PipelineConfigError('preprocessing.imageSize', `must be >= 32 (DenseNet downsamples 32x), got ${cfg.preprocessing.imageSize}`);
  if (!['centre', 'face-align', 'face-chip'].includes(cfg.preprocessing.crop)) throw new PipelineConfigError('preprocessing.crop', `must be 'centre', 'face-align' or 'face-chip', got ${JSON.stringify(cfg.preprocessing.crop)}`);
  positiveInt('preprocessing.shardSize', cfg.preprocessing.shardSize);
  fraction('preprocessing.maxBadFraction', cfg.preprocessing.maxBadFraction);
  const fr = cfg.split.fractions;
  for (const s of ['train', 'val', 'test'] as const) fraction(`split.fractions.${s}`, fr[s], { open: true });
  if (Math.abs(fr.train + fr.val + fr.test - 1) > 1e-6) throw new PipelineConfigError('split.fractions', `must sum to 1, got ${fr.train + fr.val + fr.test}`);
  for (const s of ['train', 'val', 'test'] as const) positiveInt(`pairs.perSplit.${s}`, cfg.pairs.perSplit[s]);
  if (!(cfg.evaluation.targetFar > 0 && cfg.evaluation.targetFar < 1)) throw new PipelineConfigError('evaluation.targetFar', `must be in (0, 1), got ${cfg.evaluation.targetFar}`);
  positiveInt('evaluation.batchSize', cfg.evaluation.batchSize);
  if (!isSafeName(cfg.promotion.modelName)) throw new PipelineConfigError('promotion.modelName', `must be ${SAFE_NAME_RULE}`);
  if (typeof cfg.promotion.margin !== 'number' || cfg.promotion.margin < 0) throw new PipelineConfigError('promotion.margin', `must be a number >= 0, got ${JSON.stringify(cfg.promotion.margin)}`);
  if (cfg.runId !== undefined && !isSafeName(cfg.runId)) throw new PipelineConfigError('runId', `must be ${SAFE_NAME_RULE}`);
  for (const k of ['data', 'train', 'evaluate'] as const) positiveInt(`heartbeatTimeoutSeconds.${k}`, cfg.heartbeatTimeoutSeconds[k], 86400);
  return cfg;
}

function fail(field: string, message: string): never {
  throw new PipelineConfigError(field, message);
}

/**
 * The trainModel config of a pipeline: its training section, whose image size defaults to the
 * shards' (a backbone with its own input size, or a student smaller than its teacher, sets it).
 */
export function trainingInputOf(cfg: PipelineConfig): Record<string, unknown> {
  return { ...cfg.training, imageSize: (cfg.training.imageSize as number | undefined) ?? cfg.preprocessing.imageSize };
}

/** The teacher a pipeline distils from, if any (computed by the 'teacher' stage). */
export function teacherOf(cfg: PipelineConfig): { backbone: string } | null {
  const t = cfg.training.teacher as { backbone?: unknown } | null | undefined;
  return t && typeof t.backbone === 'string' ? { backbone: t.backbone } : null;
}

/** A short summary for the workflow memo and the UI. */
export function configSummary(cfg: PipelineConfig): Record<string, unknown> {
  const src = cfg.dataset.source;
  return {
    dataset: src.kind === 'folder' ? `folder ${/^https?:\/\//i.test(src.location) ? redactUrl(src.location) : src.location}` : `kaggle-celeba ${src.dataset ?? 'jessicali9530/celeba-dataset'}`,
    imageSize: cfg.preprocessing.imageSize,
    crop: cfg.preprocessing.crop,
    pairs: cfg.pairs.perSplit,
    model: cfg.promotion.modelName,
    training: redactDeep(cfg.training),
  };
}
