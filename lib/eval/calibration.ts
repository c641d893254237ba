/**
 * Confidence: a calibrated mapping distance -> P(same person), fitted on validation pairs as a
 * one-feature logistic regression (Platt scaling), and the measures of how well it holds on test pairs.
 */
import { badInput } from '../errors';
import { checkInputs } from './metrics';

export interface LogisticCalibration {
  method: 'logistic';
  /** P(same) = 1 / (1 + exp(-(intercept + slope * distance))); slope < 0 for a useful model. */
  intercept: number;
  slope: number;
  /** Newton iterations used and whether the fit converged. */
  iterations: number;
  converged: boolean;
  /** L2 penalty on the (standardised) slope, which keeps the fit finite when the pairs separate perfectly. */
  ridge: number;
}

export function probabilitySame(cal: Pick<LogisticCalibration, 'intercept' | 'slope'>, distance: number): number {
  return sigmoid(cal.intercept + cal.slope * distance);
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** log(1 + exp(z)) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/**
 * Maximum-likelihood logistic regression of label on distance by Newton's method (IRLS), with step
 * halving so the penalised log-likelihood never decreases. The distance is standardised inside the fit
 * for conditioning; the returned coefficients apply to raw distances.
 */
export function fitLogisticCalibration(
  distances: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: { ridge?: number; maxIterations?: number; tolerance?: number } = {},
): LogisticCalibration {
  const counts = checkInputs(distances, labels, 'fitLogisticCalibration');
  if (counts.genuine === 0 || counts.impostor === 0) {
    throw badInput(`fitLogisticCalibration needs both genuine and impostor pairs; got ${counts.genuine} genuine and ${counts.impostor} impostor`);
  }
  const ridge = opts.ridge ?? 1e-3;
  const maxIterations = opts.maxIterations ?? 100;
  const tolerance = opts.tolerance ?? 1e-10;
  const n = distances.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += distances[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (distances[i] - mean) ** 2;
  const scale = Math.sqrt(variance / n) || 1;
  const z = Array.from({ length: n }, (_, i) => (distances[i] - mean) / scale);

  // Penalised negative log-likelihood, averaged over pairs so the ridge means the same at any n.
  const loss = (a: number, b: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const eta = a + b * z[i];
      s += softplus(eta) - labels[i] * eta;
    }
    return s / n + (ridge / 2) * b * b;
  };

  let a = Math.log(counts.genuine / counts.impostor);
  let b = 0;
  let current = loss(a, b);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    let ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(a + b * z[i]);
      const r = p - labels[i];
      const w = p * (1 - p);
      ga += r;
      gb += r * z[i];
      haa += w;
      hab += w * z[i];
      hbb += w * z[i] * z[i];
    }
    ga /= n;
    gb = gb / n + ridge * b;
    haa /= n;
    hab /= n;
    hbb = hbb / n + ridge;
    const det = haa * hbb - hab * hab;
    if (!(det > 1e-300)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    let step = 1;
    let next = loss(a - da, b - db);
    while (next > current && step > 1e-8) {
      step /= 2;
      next = loss(a - step * da, b - step * db);
    }
    if (next > current) break;
    a -= step * da;
    b -= step * db;
    const improvement = current - next;
    current = next;
    if (Math.max(Math.abs(step * da), Math.abs(step * db)) < tolerance || improvement < tolerance * tolerance) {
      converged = true;
      break;
    }
  }
  return { method: 'logistic', intercept: a - (b * mean) / scale, slope: b / scale, iterations, converged, ridge };
}

export interface ReliabilityBin {
  /** Predicted P(same) range [lower, upper) (the last bin includes 1). */
  lower: number;
  upper: number;
  count: number;
  /** Mean predicted probability of the pairs in the bin (NaN when empty). */
  meanPredicted: number;
  /** Fraction of genuine pairs in the bin (NaN when empty). */
  fractionGenuine: number;
}

export interface CalibrationQuality {
  /** Mean squared difference between predicted P(same) and the label. 0 is perfect; 0.25 is a constant 0.5. */
  brier: number;
  /** Expected calibration error: bin-size-weighted mean |fraction genuine - mean predicted|. */
  ece: number;
  bins: ReliabilityBin[];
  /** Mean log loss, for reference. */
  logLoss: number;
}

/** How well predicted probabilities match outcomes, with `binCount` equal-width reliability bins. */
export function calibrationQuality(probabilities: ArrayLike<number>, labels: ArrayLike<number>, binCount = 10): CalibrationQuality {
  checkInputs(probabilities, labels, 'calibrationQuality');
  const n = probabilities.length;
  if (n === 0) throw badInput('calibrationQuality: no pairs');
  const sums = Array.from({ length: binCount }, () => ({ count: 0, p: 0, pos: 0 }));
  let brier = 0;
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const p = probabilities[i];
    if (p < 0 || p > 1) throw badInput(`calibrationQuality: probability at index ${i} is ${p}, outside [0, 1]`);
    const y = labels[i];
    brier += (p - y) ** 2;
    const clipped = Math.min(1 - 1e-15, Math.max(1e-15, p));
    logLoss -= y * Math.log(clipped) + (1 - y) * Math.log(1 - clipped);
    const bin = sums[Math.min(binCount - 1, Math.floor(p * binCount))];
    bin.count++;
    bin.p += p;
    bin.pos += y;
  }
  let ece = 0;
  const bins = sums.map((s, i) => {
    const meanPredicted = s.count ? s.p / s.count : NaN;
    const fractionGenuine = s.count ? s.pos / s.count : NaN;
    if (s.count) ece += (s.count / n) * Math.abs(fractionGenuine - meanPredicted);
    return { lower: i / binCount, upper: (i + 1) / binCount, count: s.count, meanPredicted, fractionGenuine };
  });
  return { brier: brier / n, ece, bins, logLoss: logLoss / n };
}
