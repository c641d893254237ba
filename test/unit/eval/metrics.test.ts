import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracyAtThreshold,
  bestAccuracyThreshold,
  distanceStats,
  equalErrorRate,
  kFoldAccuracy,
  quantile,
  ratesAtThreshold,
  rocAuc,
  rocCurve,
  tarAtFar,
} from '../../../lib/eval/metrics';
import { SiamfaceError } from '../../../lib/errors';
import { seededRng } from '../../support/seeded-rng';

const close = (actual: number, expected: number, eps = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected}, got ${actual}`);

/** Mann-Whitney by brute force: P(genuine distance < impostor distance), ties 1/2. */
function bruteAuc(d: number[], l: number[]): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < d.length; i++) {
    if (l[i] !== 1) continue;
    for (let j = 0; j < d.length; j++) {
      if (l[j] !== 0) continue;
      n++;
      s += d[i] < d[j] ? 1 : d[i] === d[j] ? 0.5 : 0;
    }
  }
  return s / n;
}

// Hand-worked case. Sorted: 0.1 G, 0.3 I, 0.35 G, 0.4 G, 0.6 I, 0.8 I.
const D = [0.1, 0.4, 0.35, 0.3, 0.6, 0.8];
const L = [1, 1, 1, 0, 0, 0];

describe('rocCurve / rocAuc', () => {
  it('walks one point per distinct distance, from (0,0) to (1,1)', () => {
    const pts = rocCurve(D, L).map((p) => [p.far, p.tar]);
    assert.deepEqual(pts, [
      [0, 0],
      [0, 1 / 3],
      [1 / 3, 1 / 3],
      [1 / 3, 2 / 3],
      [1 / 3, 1],
      [2 / 3, 1],
      [1, 1],
    ]);
    assert.deepEqual(rocCurve(D, L).slice(1).map((p) => p.threshold), [0.1, 0.3, 0.35, 0.4, 0.6, 0.8]);
  });

  it('hand-computed AUC: 7 of 9 genuine/impostor orderings are right', () => {
    close(rocAuc(D, L), 7 / 9);
  });

  it('perfect separation gives 1, perfect inversion 0', () => {
    assert.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]), 1);
    assert.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 0);
  });

  it('ties count one half (the ROC moves diagonally through them)', () => {
    assert.equal(rocAuc([0.5, 0.5], [1, 0]), 0.5);
    close(rocAuc([0.1, 0.5, 0.5, 0.9], [1, 1, 0, 0]), 3.5 / 4);
    assert.deepEqual(rocCurve([0.5, 0.5], [1, 0]).map((p) => [p.far, p.tar]), [[0, 0], [1, 1]]);
  });

  it('matches brute-force Mann-Whitney on random distances with many ties', () => {
    const r = seededRng(42);
    const d: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < 400; i++) {
      const label = r() < 0.4 ? 1 : 0;
      l.push(label);
      d.push(Math.round((r() + (label ? 0 : 0.3)) * 20) / 20);
    }
    close(rocAuc(d, l), bruteAuc(d, l), 1e-12);
  });

  it('is about 0.5 when distances carry no information', () => {
    const r = seededRng(7);
    const d = Array.from({ length: 20000 }, () => r());
    const l = Array.from({ length: 20000 }, () => (r() < 0.5 ? 1 : 0));
    assert.ok(Math.abs(rocAuc(d, l) - 0.5) < 0.015, `AUC ${rocAuc(d, l)}`);
  });

  it('refuses a single class with a message naming the counts', () => {
    assert.throws(
      () => rocAuc([0.1, 0.2], [1, 1]),
      (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && e.permanent && /2 genuine and 0 impostor/.test(e.message),
    );
    assert.throws(() => equalErrorRate([0.1], [0]), /1 impostor/);
  });

  it('refuses mismatched lengths, bad labels and non-finite distances', () => {
    assert.throws(() => rocAuc([0.1, 0.2], [1]), /2 distances but 1 labels/);
    assert.throws(() => rocAuc([0.1, 0.2], [1, 2]), /label at index 1 is 2/);
    assert.throws(() => rocAuc([0.1, NaN], [1, 0]), /distance at index 1 is NaN/);
  });
});

describe('equalErrorRate', () => {
  it('hand case: FAR = FRR = 1/3 at distance 0.35', () => {
    const { eer, threshold } = equalErrorRate(D, L);
    close(eer, 1 / 3);
    close(threshold, 0.35);
  });

  it('is 0 under perfect separation and 0.5 when all distances tie', () => {
    assert.equal(equalErrorRate([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]).eer, 0);
    close(equalErrorRate([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0]).eer, 0.5);
  });

  it('interpolates between ROC points', () => {
    // Sorted: G 0.1, I 0.2, G 0.3, I 0.4. Points (far,tar): (0,0) (0,.5) (.5,.5) (.5,1) (1,1).
    // g = far-frr: -1, -.5, 0 -> crossing exactly at (.5,.5), threshold 0.2.
    const r = equalErrorRate([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0]);
    close(r.eer, 0.5);
    close(r.threshold, 0.2);
  });
});

describe('tarAtFar', () => {
  it('hand case: best TAR without exceeding the FAR target', () => {
    const at01 = tarAtFar(D, L, 0.1);
    close(at01.tar, 1 / 3);
    assert.equal(at01.far, 0);
    assert.equal(at01.threshold, 0.1);
    const at05 = tarAtFar(D, L, 0.5);
    assert.equal(at05.tar, 1);
    close(at05.far, 1 / 3);
    assert.equal(at05.threshold, 0.4);
  });

  it('a target below 1/impostors can only be met by accepting no impostor', () => {
    // 0.3 impostor comes before the second genuine: at FAR 0 only one genuine is accepted.
    const r = tarAtFar(D, L, 1e-3);
    assert.equal(r.far, 0);
    close(r.tar, 1 / 3);
  });

  it('rejects a target outside [0, 1]', () => {
    assert.throws(() => tarAtFar(D, L, 1.5), /target FAR 1.5/);
  });
});

describe('thresholds and accuracy', () => {
  it('bestAccuracyThreshold: hand case picks the midpoint 0.5 with accuracy 5/6', () => {
    const best = bestAccuracyThreshold(D, L);
    close(best.threshold, 0.5);
    close(best.accuracy, 5 / 6);
    close(accuracyAtThreshold(D, L, best.threshold), 5 / 6);
  });

  it('perfect separation: a threshold strictly between the classes, accuracy 1', () => {
    const best = bestAccuracyThreshold([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]);
    assert.equal(best.accuracy, 1);
    close(best.threshold, 0.5);
  });

  it('accepts nothing when every genuine pair is farther than every impostor pair', () => {
    const best = bestAccuracyThreshold([0.1, 0.9, 0.95], [0, 1, 1]);
    // Accept none: 1/3 right; accept all: 2/3 right -> accept all wins.
    close(best.accuracy, 2 / 3);
    assert.ok(best.threshold > 0.95);
    const none = bestAccuracyThreshold([0.1, 0.2, 0.9], [0, 0, 1]);
    close(none.accuracy, 2 / 3);
    assert.ok(none.threshold < 0.1, `threshold ${none.threshold}`);
  });

  it('ratesAtThreshold counts distance <= threshold as accepted', () => {
    const r = ratesAtThreshold(D, L, 0.35);
    close(r.tar, 2 / 3);
    close(r.far, 1 / 3);
    close(r.accuracy, 4 / 6);
  });
});

describe('kFoldAccuracy', () => {
  it('chooses each threshold on the other folds only (hand case with given folds)', () => {
    // Fold 0: G 0.1, I 0.9.  Fold 1: G 0.6, I 0.7.
    // Held-out 0: threshold from fold 1 = 0.65 -> fold 0 all right (1.0).
    // Held-out 1: threshold from fold 0 = 0.5 -> G 0.6 rejected, I 0.7 rejected (0.5).
    const r = kFoldAccuracy([0.1, 0.9, 0.6, 0.7], [1, 0, 1, 0], 2, [0, 0, 1, 1]);
    close(r.folds[0].threshold, 0.65);
    close(r.folds[1].threshold, 0.5);
    assert.deepEqual(r.folds.map((f) => f.accuracy), [1, 0.5]);
    close(r.mean, 0.75);
    close(r.std, 0.25);
  });

  it('round-robin folds give every fold both classes even when pairs are grouped by label', () => {
    const d = [...Array.from({ length: 50 }, (_, i) => 0.1 + i * 0.001), ...Array.from({ length: 50 }, (_, i) => 0.9 + i * 0.001)];
    const l = [...Array(50).fill(1), ...Array(50).fill(0)];
    const r = kFoldAccuracy(d, l, 10);
    assert.equal(r.folds.length, 10);
    assert.ok(r.folds.every((f) => f.pairs === 10));
    assert.equal(r.mean, 1);
    assert.equal(r.std, 0);
  });

  it('rejects k < 2 and fewer pairs than folds', () => {
    assert.throws(() => kFoldAccuracy(D, L, 1), /k must be an integer >= 2/);
    assert.throws(() => kFoldAccuracy(D, L, 10), /6 pairs cannot be split into 10 folds/);
    // One impostor: the folds without it cannot choose a threshold.
    assert.throws(() => kFoldAccuracy([0.1, 0.2, 0.3, 0.9], [1, 1, 1, 0], 2), /without fold 1 the other folds hold 2 genuine and 0 impostor pairs/);
  });
});

describe('distanceStats / quantile', () => {
  it('summarises with numpy-style quantiles and population std', () => {
    const s = distanceStats([4, 1, 3, 2]);
    assert.equal(s.count, 4);
    assert.equal(s.mean, 2.5);
    close(s.std, Math.sqrt(1.25));
    assert.equal(s.min, 1);
    assert.equal(s.max, 4);
    assert.equal(s.median, 2.5);
    close(s.p5, 1.15);
    close(s.p95, 3.85);
    close(quantile([0, 10], 0.3), 3);
  });

  it('reports NaN for an empty set rather than throwing', () => {
    const s = distanceStats([]);
    assert.equal(s.count, 0);
    assert.ok(Number.isNaN(s.mean));
  });
});
