import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calibrationQuality, fitLogisticCalibration, probabilitySame } from '../../../lib/eval/calibration';
import { seededRng } from '../../support/seeded-rng';

const close = (actual: number, expected: number, eps: number) =>
  assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected} ± ${eps}, got ${actual}`);

describe('fitLogisticCalibration', () => {
  it('recovers the coefficients of data drawn from a known logistic model', () => {
    const r = seededRng(1);
    const d: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const x = r() * 1.5;
      d.push(x);
      l.push(r() < 1 / (1 + Math.exp(-(4 - 6 * x))) ? 1 : 0);
    }
    const cal = fitLogisticCalibration(d, l, { ridge: 0 });
    assert.ok(cal.converged);
    close(cal.intercept, 4, 0.25);
    close(cal.slope, -6, 0.35);
  });

  it('meets the maximum-likelihood conditions: mean prediction equals the genuine rate', () => {
    const d = [0.2, 0.3, 0.5, 0.55, 0.6, 0.7, 0.9, 1.1];
    const l = [1, 1, 0, 1, 1, 0, 0, 0];
    const cal = fitLogisticCalibration(d, l, { ridge: 0 });
    const p = d.map((x) => probabilitySame(cal, x));
    close(p.reduce((a, b) => a + b, 0) / d.length, 0.5, 1e-9);
    // Score equation for the slope: sum (p - y) * d = 0.
    close(p.reduce((s, pi, i) => s + (pi - l[i]) * d[i], 0), 0, 1e-8);
    assert.ok(cal.slope < 0);
  });

  it('stays finite and ordered under perfect separation (the ridge keeps the slope bounded)', () => {
    const cal = fitLogisticCalibration([0.1, 0.2, 0.3, 0.9, 1.0, 1.1], [1, 1, 1, 0, 0, 0]);
    assert.ok(Number.isFinite(cal.intercept) && Number.isFinite(cal.slope));
    assert.ok(cal.converged);
    assert.ok(probabilitySame(cal, 0.1) > 0.95);
    assert.ok(probabilitySame(cal, 1.1) < 0.05);
    close(probabilitySame(cal, 0.6), 0.5, 0.02);
  });

  it('refuses a single class', () => {
    assert.throws(() => fitLogisticCalibration([0.1, 0.2], [0, 0]), /0 genuine and 2 impostor/);
  });
});

describe('calibrationQuality', () => {
  it('Brier score by hand', () => {
    close(calibrationQuality([1, 0, 0.5], [1, 0, 1]).brier, 0.25 / 3, 1e-12);
  });

  it('ECE and reliability bins by hand', () => {
    const q = calibrationQuality([0.05, 0.05, 0.95, 0.95], [0, 1, 1, 1]);
    // Bin 0: predicted 0.05, observed 0.5 -> 0.45 x half the pairs; bin 9: 0.95 vs 1 -> 0.05 x half.
    close(q.ece, 0.25, 1e-12);
    assert.equal(q.bins.length, 10);
    assert.equal(q.bins[0].count, 2);
    close(q.bins[0].fractionGenuine, 0.5, 1e-12);
    assert.equal(q.bins[9].count, 2);
    assert.ok(Number.isNaN(q.bins[5].meanPredicted));
    // Probability 1 lands in the last bin.
    assert.equal(calibrationQuality([1], [1]).bins[9].count, 1);
  });

  it('a perfectly calibrated constant predictor has ECE 0', () => {
    const q = calibrationQuality([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]);
    close(q.ece, 0, 1e-12);
    close(q.brier, 0.25, 1e-12);
  });

  it('rejects probabilities outside [0, 1]', () => {
    assert.throws(() => calibrationQuality([1.2], [1]), /index 0 is 1.2/);
  });
});
