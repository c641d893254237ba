import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluatePairs, buildEvalReport } from '../../../lib/eval/evaluate-pairs';
import { bestAccuracyThreshold, rocAuc, accuracyAtThreshold } from '../../../lib/eval/metrics';
import { identityFromPath, pairsChecksum } from '../../../lib/eval/pairs';
import { renderReportHtml, reportWarnings } from '../../../lib/eval/report-html';
import { localRunContext } from '../../../lib/progress';
import type { Pair } from '../../../lib/eval/types';

/**
 * A stand-in embedder: the embedding is a fixed 2-d point per image id, so pair distances are known
 * exactly. It records what it was asked to embed.
 */
function pointEmbedder(points: Record<string, [number, number]>) {
  const calls: string[][] = [];
  const embed = async (ids: string[]) => {
    calls.push(ids);
    return ids.map((id) => {
      const p = points[id];
      if (!p) throw new Error(`no point for ${id}`);
      return Float32Array.from(p);
    });
  };
  return { embed, calls };
}

// Identity "p<k>" images sit on the x axis; distance between images is |x_a - x_b| (y = 0).
const pts: Record<string, [number, number]> = {};
const place = (id: string, x: number) => (pts[id] = [x, 0]);
// Validation: genuine distances 0.2, 0.3; impostor 0.5, 0.7 -> max-accuracy threshold 0.4.
place('v1/a', 0); place('v1/b', 0.2);
place('v2/a', 5); place('v2/b', 5.3);
place('v3/a', 10); place('v4/a', 10.5);
place('v5/a', 20); place('v6/a', 20.7);
const val: Pair[] = [
  { a: 'v1/a', b: 'v1/b', label: 1 },
  { a: 'v2/a', b: 'v2/b', label: 1 },
  { a: 'v3/a', b: 'v4/a', label: 0 },
  { a: 'v5/a', b: 'v6/a', label: 0 },
];
// Test: 12 pairs; genuine distances 0.1..0.6, impostor 0.35..0.9. The test-optimal threshold differs
// from the validation one, which lets the test see which set the threshold came from.
const test: Pair[] = [];
const gd = [0.1, 0.15, 0.2, 0.45, 0.5, 0.6];
const id = [0.35, 0.38, 0.7, 0.8, 0.85, 0.9];
gd.forEach((d, i) => {
  place(`t${i}/a`, 100 + 10 * i);
  place(`t${i}/b`, 100 + 10 * i + d);
  test.push({ a: `t${i}/a`, b: `t${i}/b`, label: 1 });
});
id.forEach((d, i) => {
  place(`u${i}/a`, 300 + 10 * i);
  place(`w${i}/a`, 300 + 10 * i + d);
  test.push({ a: `u${i}/a`, b: `w${i}/a`, label: 0 });
});
// Reuse one image in two pairs: it must still be embedded once.
place('t0/c', 100 + 0.05);
test.push({ a: 't0/a', b: 't0/c', label: 1 });
test.push({ a: 't0/c', b: 'v1/a', label: 0 });

describe('evaluatePairs', () => {
  it('embeds each image once, chooses the threshold on validation and measures on test', async () => {
    const { embed, calls } = pointEmbedder(pts);
    const progress: Record<string, unknown>[] = [];
    const report = await evaluatePairs(
      { val, test, embed, batchSize: 5, kFolds: 2, identityOf: identityFromPath, lineage: { run: 'r1', model: 'm', dataset: 'd' }, now: () => new Date('2024-01-01T00:00:00Z') },
      localRunContext({ onReport: (p) => progress.push(p) }),
    );
    const asked = calls.flat();
    assert.equal(new Set(asked).size, asked.length, 'an image was embedded twice');
    const images = new Set([...val, ...test].flatMap((p) => [p.a, p.b]));
    assert.equal(asked.length, images.size);
    assert.ok(calls.every((c) => c.length <= 5));
    assert.equal(report.embedding.images, images.size);
    assert.equal(report.embedding.dimension, 2);
    assert.ok(progress.some((p) => p.stage === 'embedding' && p.images === images.size));

    // Distances are the known geometry.
    const td = report.distances.test.map((p) => p.distance);
    gd.forEach((d, i) => assert.ok(Math.abs(td[i] - d) < 1e-4, `genuine ${i}: ${td[i]} vs ${d}`));

    // Threshold from validation: midpoint of 0.3 and 0.5.
    assert.ok(Math.abs(report.threshold.value - 0.4) < 1e-4, `threshold ${report.threshold.value}`);
    assert.equal(report.threshold.chosenOn, 'val');
    const tl = report.distances.test.map((p) => p.label);
    const testBest = bestAccuracyThreshold(td, tl);
    assert.notEqual(testBest.threshold.toFixed(4), report.threshold.value.toFixed(4), 'fixture should make val and test thresholds differ');
    assert.equal(report.metrics.accuracy, accuracyAtThreshold(td, tl, report.threshold.value));
    assert.equal(report.metrics.rocAuc, rocAuc(td, tl));

    // Counts.
    assert.deepEqual(
      { pairs: report.pairs.test.pairs, genuine: report.pairs.test.genuine, impostor: report.pairs.test.impostor },
      { pairs: 14, genuine: 7, impostor: 7 },
    );
    assert.equal(report.pairs.val.identities, 6);
    assert.equal(report.pairs.test.checksum, pairsChecksum(test));
    assert.equal(report.test.tarAtFar.length, 3);
    assert.equal(report.test.kFold.k, 2);
    assert.equal(report.lineage.run, 'r1');
    assert.equal(report.createdAt, '2024-01-01T00:00:00.000Z');
    assert.ok(report.calibration.slope < 0);
  });

  it('recomputes identical metrics from the per-pair distances stored in the report', async () => {
    const { embed } = pointEmbedder(pts);
    const now = () => new Date('2024-01-01T00:00:00Z');
    const report = await evaluatePairs({ val, test, embed, kFolds: 2, now }, localRunContext());
    const again = buildEvalReport(report.distances.val, report.distances.test, { kFolds: 2, now, embedding: report.embedding });
    assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(report)));
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    let calls = 0;
    const embed = async (ids: string[]) => {
      calls++;
      controller.abort(new Error('cancelled by test'));
      return ids.map((i) => Float32Array.from(pts[i]));
    };
    await assert.rejects(evaluatePairs({ val, test, embed, batchSize: 4 }, localRunContext({ signal: controller.signal })), /cancelled by test/);
    assert.equal(calls, 1);
  });

  it('names the image when the embedder misbehaves', async () => {
    const wrongCount = async (ids: string[]) => ids.slice(1).map(() => new Float32Array(2));
    await assert.rejects(evaluatePairs({ val, test, embed: wrongCount }, localRunContext()), /returned \d+ embeddings for \d+ images/);
    const nan = async (ids: string[]) => ids.map((i) => Float32Array.from(i === 'v2/b' ? [NaN, 0] : pts[i]));
    await assert.rejects(evaluatePairs({ val, test, embed: nan }, localRunContext()), /non-finite value \(NaN\) for image v2\/b/);
  });

  it('rejects empty or malformed pair sets', async () => {
    const { embed } = pointEmbedder(pts);
    await assert.rejects(evaluatePairs({ val: [], test, embed }, localRunContext()), /no validation pairs/);
    await assert.rejects(
      evaluatePairs({ val, test: [{ a: 'x', b: '', label: 1 }], embed }, localRunContext()),
      /test pair 0: image ids must be non-empty/,
    );
  });

  it('renders an HTML page with the plots inline and the key numbers', async () => {
    const { embed } = pointEmbedder(pts);
    const report = await evaluatePairs({ val, test, embed, kFolds: 2, lineage: { model: 'siamface<v1>' } }, localRunContext());
    const html = renderReportHtml(report);
    assert.equal((html.match(/<svg /g) ?? []).length, 4);
    assert.ok(html.includes(report.threshold.value.toFixed(4)));
    assert.ok(html.includes('siamface&lt;v1&gt;'), 'lineage text is escaped');
    assert.ok(!html.includes('NaN'), 'no NaN leaks into the page');
  });
});

describe('reportWarnings', () => {
  it('warns when the threshold accepts everything and the pairs are imbalanced, and not otherwise', () => {
    const mk = (d: number[], l: (0 | 1)[], tag: string) => d.map((distance, i) => ({ a: `${tag}${i}/a`, b: `${tag}${i}/b`, label: l[i], distance }));
    // 9 genuine spread over the impostor's range: accepting everything is the most accurate threshold.
    const imbalanced = mk([0.45, 0.55, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.35, 0.65, 0.75, 0.85, 0.05, 0.15, 0.25, 0.98], [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 'x');
    const w = reportWarnings(buildEvalReport(imbalanced, imbalanced, { kFolds: 2 }));
    assert.ok(w.some((m) => /accepts \(almost\) every test pair/.test(m)), w.join(' | '));
    assert.ok(w.some((m) => /test pairs are imbalanced \(90% genuine\)/.test(m)));
    const balanced = mk([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], 'y');
    assert.deepEqual(reportWarnings(buildEvalReport(balanced, balanced, { kFolds: 2 })), []);
  });
});
