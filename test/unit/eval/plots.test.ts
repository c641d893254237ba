import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { distanceHistogramSvg, niceTicks, rocSvg, escapeXml } from '../../../lib/eval/plots';

describe('plots', () => {
  it('niceTicks gives round steps covering the range', () => {
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    // Span 1.58 / 6 = 0.26 per tick -> the next round step is 0.5.
    assert.deepEqual(niceTicks(0.13, 1.71, 6), [0.5, 1, 1.5]);
    assert.deepEqual(niceTicks(0, 0.0042, 4), [0, 0.002, 0.004]);
  });

  it('the ROC path starts at the bottom-left and ends at the top-right of the plot area', () => {
    const svg = rocSvg([{ threshold: 0, far: 0, tar: 0 }, { threshold: 1, far: 0, tar: 1 }, { threshold: 2, far: 1, tar: 1 }]);
    const d = /<path d="([^"]+)" fill="none" stroke="#1f77b4"/.exec(svg)![1];
    // Plot area: x 56..464, y 28..314 (480x360 with margins).
    assert.equal(d, 'M56 314 L56 28 L464 28');
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  });

  it('histogram bars are normalised per class and the threshold line is drawn', () => {
    const svg = distanceHistogramSvg([0.1, 0.1, 0.2], [0.9], { bins: 4, thresholds: [{ value: 0.5, label: 't<0.5>' }] });
    assert.ok(svg.includes('n=3') && svg.includes('n=1'));
    assert.ok(svg.includes('t&lt;0.5&gt;'), 'labels are escaped');
    // Range 0.1..0.9 in 4 bins of 0.2: all genuine distances fall in bin 0, the impostor in bin 3.
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 1 + 1 + 1, 'frame + one genuine bar + one impostor bar');
    assert.match(svg, /fill="#1f77b4" fill-opacity="0.45"/);
  });

  it('escapeXml', () => {
    assert.equal(escapeXml('a<b & "c">'), 'a&lt;b &amp; &quot;c&quot;&gt;');
  });
});
