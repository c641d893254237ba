/**
 * Verification metrics over pair distances, shared by training's validation and the evaluation report.
 *
 * Conventions used everywhere in this file:
 * - `labels[i]` is 1 for a genuine pair (same person) and 0 for an impostor pair.
 * - A pair is predicted "same" when `distance <= threshold` (smaller distance = more alike).
 * - TAR (true accept rate) = genuine pairs accepted / genuine pairs;
 *   FAR (false accept rate) = impostor pairs accepted / impostor pairs.
 * - Metrics that need both classes (ROC, AUC, EER, TAR@FAR, best threshold) throw a permanent
 *   `bad_input` SiamfaceError when one class is missing: a number there would be meaningless, and a
 *   validation set without both classes is a bug in pair generation worth stopping for.
 */
import { badInput } from '../errors';

export type Label = 0 | 1;

export interface RocPoint {
  /** Accept when distance <= threshold. The first point (nothing accepted) has a threshold below every distance. */
  threshold: number;
  far: number;
  tar: number;
}

export interface ClassCounts {
  genuine: number;
  impostor: number;
}

export function checkInputs(distances: ArrayLike<number>, labels: ArrayLike<number>, what: string): ClassCounts {
  if (distances.length !== labels.length) {
    throw badInput(`${what}: ${distances.length} distances but ${labels.length} labels; they must pair up`);
  }
  let genuine = 0;
  let impostor = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l === 1) genuine++;
    else if (l === 0) impostor++;
    else throw badInput(`${what}: label at index ${i} is ${String(l)}; labels must be 0 (impostor) or 1 (genuine)`);
    if (!Number.isFinite(distances[i])) throw badInput(`${what}: distance at index ${i} is ${distances[i]}; distances must be finite`);
  }
  return { genuine, impostor };
}

function requireBothClasses(counts: ClassCounts, what: string): void {
  if (counts.genuine === 0 || counts.impostor === 0) {
    throw badInput(
      `${what} needs both genuine (label 1) and impostor (label 0) pairs; got ${counts.genuine} genuine and ${counts.impostor} impostor`,
    );
  }
}

/** Indices sorted by ascending distance. */
function sortedOrder(distances: ArrayLike<number>): number[] {
  const order = Array.from({ length: distances.length }, (_, i) => i);
  order.sort((x, y) => distances[x] - distances[y]);
  return order;
}

/** A threshold just below `d` that accepts nothing at or above it (distances are not necessarily >= 0 here). */
function below(d: number): number {
  return d - Math.max(1e-6, Math.abs(d) * 1e-9);
}

/**
 * The full ROC curve: one point per distinct distance (tied distances move together, so ties give a
 * diagonal segment, as they should), starting at (FAR 0, TAR 0) and ending at (1, 1).
 */
export function rocCurve(distances: ArrayLike<number>, labels: ArrayLike<number>): RocPoint[] {
  const counts = checkInputs(distances, labels, 'rocCurve');
  requireBothClasses(counts, 'rocCurve');
  const order = sortedOrder(distances);
  const points: RocPoint[] = [{ threshold: below(distances[order[0]]), far: 0, tar: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; ) {
    const d = distances[order[i]];
    while (i < order.length && distances[order[i]] === d) {
      if (labels[order[i]] === 1) tp++;
      else fp++;
      i++;
    }
    points.push({ threshold: d, far: fp / counts.impostor, tar: tp / counts.genuine });
  }
  return points;
}

/** Area under the ROC curve (trapezoids; equals the probability a genuine pair is closer than an impostor pair, ties counting 1/2). */
export function rocAuc(distances: ArrayLike<number>, labels: ArrayLike<number>): number {
  return aucOfCurve(rocCurve(distances, labels));
}

export function aucOfCurve(points: RocPoint[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    area += ((points[i].far - points[i - 1].far) * (points[i].tar + points[i - 1].tar)) / 2;
  }
  return area;
}

export interface EqualErrorRate {
  /** The rate where FAR equals FRR (1 - TAR), linearly interpolated between ROC points. */
  eer: number;
  /** Distance threshold at that point (interpolated the same way). */
  threshold: number;
}

export function equalErrorRate(distances: ArrayLike<number>, labels: ArrayLike<number>): EqualErrorRate {
  return eerOfCurve(rocCurve(distances, labels));
}

export function eerOfCurve(points: RocPoint[]): EqualErrorRate {
  // g = FAR - FRR rises from -1 (first point) to +1 (last point); find its first zero crossing.
  const g = (p: RocPoint) => p.far - (1 - p.tar);
  for (let i = 1; i < points.length; i++) {
    const g0 = g(points[i - 1]);
    const g1 = g(points[i]);
    if (g1 >= 0) {
      const t = g1 === g0 ? 0 : -g0 / (g1 - g0);
      const far = points[i - 1].far + t * (points[i].far - points[i - 1].far);
      const frr = 1 - (points[i - 1].tar + t * (points[i].tar - points[i - 1].tar));
      return {
        eer: (far + frr) / 2,
        threshold: points[i - 1].threshold + t * (points[i].threshold - points[i - 1].threshold),
      };
    }
  }
  /* c8 ignore next */
  throw new Error('unreachable: the ROC curve always ends at FAR 1, TAR 1');
}

export interface TarAtFar {
  /** The FAR asked for. */
  targetFar: number;
  /** The best TAR among thresholds whose FAR does not exceed the target. */
  tar: number;
  /** The FAR actually reached at that threshold (<= targetFar). */
  far: number;
  threshold: number;
}

/**
 * TAR at a FAR target, on the given pairs' own ROC curve. With N impostor pairs the smallest non-zero
 * FAR is 1/N, so a target below that can only be met by accepting no impostor at all.
 */
export function tarAtFar(distances: ArrayLike<number>, labels: ArrayLike<number>, targetFar: number): TarAtFar {
  return tarAtFarOfCurve(rocCurve(distances, labels), targetFar);
}

export function tarAtFarOfCurve(points: RocPoint[], targetFar: number): TarAtFar {
  if (!(targetFar >= 0 && targetFar <= 1)) throw badInput(`tarAtFar: target FAR ${targetFar} must be within [0, 1]`);
  let best = points[0];
  // Points are in increasing FAR and TAR, so the last one within the target is the best.
  for (const p of points) {
    if (p.far <= targetFar + 1e-12) best = p;
    else break;
  }
  return { targetFar, tar: best.tar, far: best.far, threshold: best.threshold };
}

/** Fraction of pairs classified correctly when "same" means distance <= threshold. */
export function accuracyAtThreshold(distances: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): number {
  checkInputs(distances, labels, 'accuracyAtThreshold');
  if (distances.length === 0) throw badInput('accuracyAtThreshold: no pairs');
  let correct = 0;
  for (let i = 0; i < distances.length; i++) {
    const same = distances[i] <= threshold;
    if (same === (labels[i] === 1)) correct++;
  }
  return correct / distances.length;
}

/** Rates at one fixed threshold (e.g. a validation-chosen threshold applied to test pairs). */
export function ratesAtThreshold(distances: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): { tar: number; far: number; accuracy: number } {
  const counts = checkInputs(distances, labels, 'ratesAtThreshold');
  requireBothClasses(counts, 'ratesAtThreshold');
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < distances.length; i++) {
    if (distances[i] <= threshold) {
      if (labels[i] === 1) tp++;
      else fp++;
    }
  }
  const tn = counts.impostor - fp;
  return { tar: tp / counts.genuine, far: fp / counts.impostor, accuracy: (tp + tn) / distances.length };
}

export interface ThresholdChoice {
  threshold: number;
  accuracy: number;
}

/**
 * The threshold with the highest accuracy. Candidates are the midpoints between consecutive distinct
 * distances (a margin on both sides, so it transfers to new pairs) plus "accept none" and "accept all".
 * Among equally good thresholds the smallest wins, so the choice is deterministic.
 */
export function bestAccuracyThreshold(distances: ArrayLike<number>, labels: ArrayLike<number>): ThresholdChoice {
  const counts = checkInputs(distances, labels, 'bestAccuracyThreshold');
  requireBothClasses(counts, 'bestAccuracyThreshold');
  const order = sortedOrder(distances);
  const n = distances.length;
  // Accept none: every impostor is right.
  let correct = counts.impostor;
  let best: ThresholdChoice = { threshold: below(distances[order[0]]), accuracy: correct / n };
  for (let i = 0; i < n; ) {
    const d = distances[order[i]];
    while (i < n && distances[order[i]] === d) {
      correct += labels[order[i]] === 1 ? 1 : -1;
      i++;
    }
    const threshold = i < n ? (d + distances[order[i]]) / 2 : d + Math.max(1e-6, Math.abs(d) * 1e-9);
    if (correct / n > best.accuracy) best = { threshold, accuracy: correct / n };
  }
  return best;
}

export interface KFoldResult {
  k: number;
  mean: number;
  /** Population standard deviation over the folds (numpy's default, as the LFW tooling reports). */
  std: number;
  folds: { threshold: number; accuracy: number; pairs: number }[];
}

/**
 * LFW protocol: split the pairs into k folds, choose the best-accuracy threshold on the other k-1
 * folds, measure accuracy on the held-out fold. Pair i goes to fold i % k (round robin), so pairs
 * stored grouped by label still give every fold both classes. Pass `folds` to use given fold ids instead.
 */
export function kFoldAccuracy(distances: ArrayLike<number>, labels: ArrayLike<number>, k = 10, folds?: ArrayLike<number>): KFoldResult {
  const counts = checkInputs(distances, labels, 'kFoldAccuracy');
  requireBothClasses(counts, 'kFoldAccuracy');
  if (!Number.isInteger(k) || k < 2) throw badInput(`kFoldAccuracy: k must be an integer >= 2, got ${k}`);
  if (distances.length < k) throw badInput(`kFoldAccuracy: ${distances.length} pairs cannot be split into ${k} folds`);
  if (folds && folds.length !== distances.length) throw badInput(`kFoldAccuracy: ${folds.length} fold ids for ${distances.length} pairs`);
  const foldOf = (i: number) => (folds ? folds[i] : i % k);
  const results: KFoldResult['folds'] = [];
  for (let f = 0; f < k; f++) {
    const trainD: number[] = [];
    const trainL: number[] = [];
    const testD: number[] = [];
    const testL: number[] = [];
    for (let i = 0; i < distances.length; i++) {
      if (foldOf(i) === f) {
        testD.push(distances[i]);
        testL.push(labels[i]);
      } else {
        trainD.push(distances[i]);
        trainL.push(labels[i]);
      }
    }
    if (testD.length === 0) throw badInput(`kFoldAccuracy: fold ${f} has no pairs`);
    const trainGenuine = trainL.filter((l) => l === 1).length;
    if (trainGenuine === 0 || trainGenuine === trainL.length) {
      throw badInput(
        `kFoldAccuracy: without fold ${f} the other folds hold ${trainGenuine} genuine and ${trainL.length - trainGenuine} impostor pairs; ` +
          `every fold's complement needs both (${counts.genuine} genuine and ${counts.impostor} impostor pairs in all)`,
      );
    }
    const { threshold } = bestAccuracyThreshold(trainD, trainL);
    results.push({ threshold, accuracy: accuracyAtThreshold(testD, testL, threshold), pairs: testD.length });
  }
  const accs = results.map((r) => r.accuracy);
  const mean = accs.reduce((a, b) => a + b, 0) / k;
  const std = Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / k);
  return { k, mean, std, folds: results };
}

export interface DistanceStats {
  count: number;
  mean: number;
  std: number;
  min: number;
  p5: number;
  median: number;
  p95: number;
  max: number;
}

/** Summary of a set of distances; every field is NaN (count 0) when the set is empty. */
export function distanceStats(values: ArrayLike<number>): DistanceStats {
  const n = values.length;
  if (n === 0) return { count: 0, mean: NaN, std: NaN, min: NaN, p5: NaN, median: NaN, p95: NaN, max: NaN };
  const sorted = Array.from(values).sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(sorted.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return { count: n, mean, std, min: sorted[0], p5: quantile(sorted, 0.05), median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted[n - 1] };
}

/** Linear-interpolation quantile of an ascending array (numpy's default method). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
