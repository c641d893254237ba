/** verify: two images -> same person or not, with distance, threshold, calibrated confidence and timings. */
import type { ObjectStore } from '../storage/object-store';
import type { InputPolicy } from '../security/input-policy';
import { badInput } from '../errors';
import { preprocessRgbBytes } from '../model/preprocess';
import { euclideanDistanceOf } from '../model/distance';
import { probabilitySame } from '../eval/calibration';
import type { ModelCache, ServingModel } from './model-cache';
import { checkDetectMode } from './detection-policy';
import { ImageError, describeInput, prepareImage, readImageBytes, type PreparedImage } from './prepare-image';
import type { DetectMode, ImageInput, ModelRef, VerifyResult } from './types';

export interface VerifyPairInput {
  a: ImageInput;
  b: ImageInput;
  model?: Partial<ModelRef>;
  /** Overrides the card's threshold (distance <= threshold means the same person). */
  threshold?: number;
  detect?: DetectMode;
  /** Which face to use when an image shows several (default 'largest'). */
  select?: 'largest' | 'highest_score';
}

export interface VerifyDeps {
  models: ModelCache;
  /** For s3:// inputs (other buckets reuse its endpoint and credentials). */
  store?: ObjectStore;
  /** What image locations may be read (default: the worker's policy; the CLI passes the caller's). */
  policy?: InputPolicy;
}

/** The decision for a distance under a served model (shared by verify and batch jobs). */
export function decide(model: ServingModel, distance: number, threshold?: number): { verified: boolean; threshold: number; confidence: number } {
  const t = threshold ?? model.card.evaluation.threshold;
  return { verified: distance <= t, threshold: t, confidence: probabilitySame(model.card.evaluation.calibration, distance) };
}

export function checkThreshold(threshold: unknown): number | undefined {
  if (threshold === undefined || threshold === null) return undefined;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0) throw badInput(`threshold must be a non-negative number, got ${JSON.stringify(threshold)}`);
  return threshold;
}

/** Embeds prepared images in one batch. */
export async function embedPrepared(model: ServingModel, images: Buffer[]): Promise<Float32Array[]> {
  const per = model.prep.inputSize * model.prep.inputSize * 3;
  const batch = new Float32Array(images.length * per);
  images.forEach((rgb, i) => preprocessRgbBytes(rgb, model.prep.normalization, batch, i * per));
  return model.engine.embed(batch, images.length);
}

export async function verifyPair(input: VerifyPairInput, deps: VerifyDeps): Promise<VerifyResult> {
  const started = performance.now();
  const detect = checkDetectMode(input.detect);
  const threshold = checkThreshold(input.threshold);
  const model = await deps.models.get(input.model);
  const prepare = async (image: ImageInput, which: 'a' | 'b'): Promise<PreparedImage & { readMs: number }> => {
    const name = describeInput(image);
    const t = performance.now();
    try {
      const bytes = await readImageBytes(image, { store: deps.store, policy: deps.policy });
      const readMs = performance.now() - t;
      return { ...(await prepareImage(bytes, { prep: model.prep, detect, name, select: input.select })), readMs };
    } catch (err) {
      if (err instanceof ImageError) err.details!.which = which;
      throw err;
    }
  };
  // Sequential: face detection shares one tfjs engine, and the CPU is the bottleneck either way.
  const a = await prepare(input.a, 'a');
  const b = await prepare(input.b, 'b');
  const t = performance.now();
  const [ea, eb] = await embedPrepared(model, [a.rgb, b.rgb]);
  const embedMs = performance.now() - t;
  const distance = euclideanDistanceOf(ea, eb);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  const d = decide(model, distance, threshold);
  return {
    verified: d.verified,
    distance,
    threshold: d.threshold,
    confidence: d.confidence,
    model: { name: model.name, version: model.version, engine: model.engine.kind },
    faces: [a.face, b.face],
    timings: {
      decode: round(a.readMs + a.timings.decode + b.readMs + b.timings.decode),
      detect: round(a.timings.detect + b.timings.detect),
      embed: round(embedMs),
      total: round(performance.now() - started),
    },
  };
}
