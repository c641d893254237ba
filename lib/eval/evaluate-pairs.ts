/**
 * Evaluation of a verification model on validation and test pairs. The model enters only as an
 * `embed(imageIds)` function, so this code does not care how embeddings are produced.
 *
 * Protocol: the threshold (and the confidence calibration) are chosen on validation pairs only;
 * test pairs are used only to measure.
 */
import { badInput } from '../errors';
import type { RunContext } from '../progress';
import { throwIfAborted } from '../progress';
import { euclideanDistanceOf } from '../model/distance';
import { calibrationQuality, fitLogisticCalibration, probabilitySame } from './calibration';
import {
  aucOfCurve,
  bestAccuracyThreshold,
  distanceStats,
  eerOfCurve,
  kFoldAccuracy,
  ratesAtThreshold,
  rocCurve,
  tarAtFarOfCurve,
  type RocPoint,
} from './metrics';
import { checkPairs, summarizePairs } from './pairs';
import type { EmbedFn, EvalLineage, EvalReport, Pair, ScoredPair } from './types';

export interface EvaluatePairsInput {
  val: Pair[];
  test: Pair[];
  embed: EmbedFn;
  /** Images per `embed` call (default 64). */
  batchSize?: number;
  /** FAR target for the second, validation-chosen operating point (default 1e-2). */
  targetFar?: number;
  /** Folds for the k-fold accuracy on test (default 10). */
  kFolds?: number;
  /** Maps an image id to its identity, for identity counts; without it they are reported as null. */
  identityOf?: (imageId: string) => string | undefined;
  lineage?: EvalLineage;
  /** Fixed clock for reproducible reports in tests. */
  now?: () => Date;
}

export const TAR_AT_FAR_TARGETS = [1e-1, 1e-2, 1e-3] as const;

export async function evaluatePairs(input: EvaluatePairsInput, ctx: RunContext): Promise<EvalReport> {
  checkPairs(input.val, 'validation');
  checkPairs(input.test, 'test');
  if (input.val.length === 0) throw badInput('evaluatePairs: no validation pairs; the threshold must be chosen on validation pairs');
  if (input.test.length === 0) throw badInput('evaluatePairs: no test pairs');
  const started = Date.now();
  const embeddings = await embedEachImageOnce([...input.val, ...input.test], input.embed, input.batchSize ?? 64, ctx);
  const seconds = (Date.now() - started) / 1000;
  const score = (pairs: Pair[]): ScoredPair[] =>
    pairs.map((p) => ({ a: p.a, b: p.b, label: p.label, distance: euclideanDistanceOf(embeddings.get(p.a)!, embeddings.get(p.b)!) }));
  const val = score(input.val);
  const test = score(input.test);
  ctx.report({ stage: 'metrics' });
  const first = embeddings.values().next().value as Float32Array;
  return buildEvalReport(val, test, {
    targetFar: input.targetFar,
    kFolds: input.kFolds,
    identityOf: input.identityOf,
    lineage: input.lineage,
    now: input.now,
    embedding: { images: embeddings.size, dimension: first.length, seconds },
  });
}

/** Embeds every distinct image once, in batches, reporting progress and stopping on cancellation. */
export async function embedEachImageOnce(pairs: Pair[], embed: EmbedFn, batchSize: number, ctx: RunContext): Promise<Map<string, Float32Array>> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw badInput(`evaluatePairs: batchSize must be a positive integer, got ${batchSize}`);
  const ids = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const out = new Map<string, Float32Array>();
  let dimension = -1;
  for (let start = 0; start < ids.length; start += batchSize) {
    throwIfAborted(ctx.signal);
    const batch = ids.slice(start, start + batchSize);
    const vectors = await embed(batch);
    if (!Array.isArray(vectors) || vectors.length !== batch.length) {
      throw badInput(`embed returned ${Array.isArray(vectors) ? vectors.length : typeof vectors} embeddings for ${batch.length} images (first: ${batch[0]})`);
    }
    vectors.forEach((v, i) => {
      if (dimension < 0) dimension = v.length;
      if (v.length !== dimension || v.length === 0) {
        throw badInput(`embed returned an embedding of length ${v.length} for image ${batch[i]}; expected ${dimension}`);
      }
      for (let j = 0; j < v.length; j++) {
        if (!Number.isFinite(v[j])) throw badInput(`embed returned a non-finite value (${v[j]}) for image ${batch[i]} at index ${j}`);
      }
      out.set(batch[i], v);
    });
    ctx.report({ stage: 'embedding', images: out.size, totalImages: ids.length });
  }
  return out;
}

export interface BuildReportOptions {
  targetFar?: number;
  kFolds?: number;
  identityOf?: (imageId: string) => string | undefined;
  lineage?: EvalLineage;
  now?: () => Date;
  embedding?: EvalReport['embedding'];
}

/** Every metric of the report from scored pairs alone (also how a report's metrics are recomputed). */
export function buildEvalReport(val: ScoredPair[], test: ScoredPair[], opts: BuildReportOptions = {}): EvalReport {
  const targetFar = opts.targetFar ?? 1e-2;
  const vd = val.map((p) => p.distance);
  const vl = val.map((p) => p.label);
  const td = test.map((p) => p.distance);
  const tl = test.map((p) => p.label);

  const valRoc = rocCurve(vd, vl);
  const chosen = bestAccuracyThreshold(vd, vl);
  const valFarPoint = tarAtFarOfCurve(valRoc, targetFar);
  const atChosen = ratesAtThreshold(td, tl, chosen.threshold);
  const atFarThreshold = ratesAtThreshold(td, tl, valFarPoint.threshold);

  const testRoc = rocCurve(td, tl);
  const testEer = eerOfCurve(testRoc);
  const tarAtFar = TAR_AT_FAR_TARGETS.map((f) => tarAtFarOfCurve(testRoc, f));
  const kFold = kFoldAccuracy(td, tl, opts.kFolds ?? 10);

  const cal = fitLogisticCalibration(vd, vl);
  const valQuality = calibrationQuality(vd.map((d) => probabilitySame(cal, d)), vl);
  const testQuality = calibrationQuality(td.map((d) => probabilitySame(cal, d)), tl);

  const split = (pairs: ScoredPair[]) => ({
    genuine: distanceStats(pairs.filter((p) => p.label === 1).map((p) => p.distance)),
    impostor: distanceStats(pairs.filter((p) => p.label === 0).map((p) => p.distance)),
  });
  const rocAuc = aucOfCurve(testRoc);

  return {
    schemaVersion: 1,
    createdAt: (opts.now?.() ?? new Date()).toISOString(),
    lineage: opts.lineage ?? {},
    pairs: { val: summarizePairs(val, opts.identityOf), test: summarizePairs(test, opts.identityOf) },
    embedding: opts.embedding ?? { images: new Set([...val, ...test].flatMap((p) => [p.a, p.b])).size, dimension: 0, seconds: 0 },
    metrics: {
      rocAuc,
      accuracy: atChosen.accuracy,
      eer: testEer.eer,
      kFoldAccuracy: kFold.mean,
      kFoldStd: kFold.std,
      tarAtFar1e1: tarAtFar[0].tar,
      tarAtFar1e2: tarAtFar[1].tar,
      tarAtFar1e3: tarAtFar[2].tar,
      brier: testQuality.brier,
      ece: testQuality.ece,
    },
    threshold: { method: 'max-accuracy', chosenOn: 'val', value: chosen.threshold, valAccuracy: chosen.accuracy },
    farThreshold: {
      targetFar,
      chosenOn: 'val',
      value: valFarPoint.threshold,
      valTar: valFarPoint.tar,
      valFar: valFarPoint.far,
      testTar: atFarThreshold.tar,
      testFar: atFarThreshold.far,
    },
    test: {
      accuracy: atChosen.accuracy,
      tar: atChosen.tar,
      far: atChosen.far,
      rocAuc,
      eer: testEer.eer,
      eerThreshold: testEer.threshold,
      tarAtFar,
      kFold,
      distanceStats: split(test),
      roc: thinRoc(testRoc),
    },
    val: { rocAuc: aucOfCurve(valRoc), eer: eerOfCurve(valRoc).eer, distanceStats: split(val) },
    calibration: { ...cal, fittedOn: 'val', val: valQuality, test: testQuality },
    distances: { val, test },
  };
}

/** Keeps the ends and every point that moves the curve by a visible amount (plots need no more). */
export function thinRoc(points: RocPoint[], step = 0.002): RocPoint[] {
  if (points.length <= 2) return points.slice();
  const out = [points[0]];
  for (let i = 1; i < points.length - 1; i++) {
    const last = out[out.length - 1];
    // Low FARs are drawn on a log axis: keep their detail.
    if (Math.abs(points[i].far - last.far) + Math.abs(points[i].tar - last.tar) >= step || (points[i].far < 0.01 && points[i].far !== last.far)) {
      out.push(points[i]);
    }
  }
  out.push(points[points.length - 1]);
  return out;
}
