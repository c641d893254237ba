import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  CELEBA_ALIGNED_HEIGHT,
  CELEBA_ALIGNED_TEMPLATE,
  CELEBA_ALIGNED_WIDTH,
  alignFace,
  applyAffine,
  landmarkList,
  similarityTransform,
  type Affine,
} from '../../../lib/face/align';
import type { FaceLandmarks5, Point } from '../../../lib/face/types';

function similarity(scale: number, angleDeg: number, tx: number, ty: number): Affine {
  const t = (angleDeg * Math.PI) / 180;
  return { a: scale * Math.cos(t), b: -scale * Math.sin(t), c: scale * Math.sin(t), d: scale * Math.cos(t), tx, ty };
}

const mapLandmarks = (m: Affine, l: FaceLandmarks5): FaceLandmarks5 => ({
  leftEye: applyAffine(m, l.leftEye),
  rightEye: applyAffine(m, l.rightEye),
  nose: applyAffine(m, l.nose),
  mouthLeft: applyAffine(m, l.mouthLeft),
  mouthRight: applyAffine(m, l.mouthRight),
});

test('similarityTransform recovers a known rotation + scale + translation exactly', () => {
  const truth = similarity(2.7, -23, 140, -35);
  const from = landmarkList(CELEBA_ALIGNED_TEMPLATE);
  const to = from.map((p) => applyAffine(truth, p));
  const m = similarityTransform(from, to);
  for (const k of ['a', 'b', 'c', 'd', 'tx', 'ty'] as const) assert.ok(Math.abs(m[k] - truth[k]) < 1e-9, `${k}: ${m[k]} vs ${truth[k]}`);
});

test('similarityTransform is the least-squares fit: moving one point shifts the fit by a fifth', () => {
  const from = landmarkList(CELEBA_ALIGNED_TEMPLATE);
  const to = from.map(([x, y]): Point => [x, y]);
  to[2] = [to[2][0] + 10, to[2][1]]; // nose moved right by 10
  const m = similarityTransform(from, to);
  const residuals = from.map((p, i) => Math.hypot(applyAffine(m, p)[0] - to[i][0], applyAffine(m, p)[1] - to[i][1]));
  // A least-squares similarity maps the centroid onto the centroid (mean shift 10/5 = 2 px in x)...
  const mapped = from.map((p) => applyAffine(m, p));
  const meanX = (ps: Point[]) => ps.reduce((s, p) => s + p[0], 0) / ps.length;
  assert.ok(Math.abs(meanX(mapped) - meanX(from) - 2) < 1e-9);
  // ...and the outlier keeps most of its error instead of dragging the fit onto itself.
  assert.ok(residuals[2] > 7 && residuals[2] < 9, `nose residual ${residuals[2]}`);
});

test('similarityTransform rejects degenerate landmarks with bad_input', () => {
  const p: Point = [5, 5];
  assert.throws(() => similarityTransform([p, p, p], [p, [1, 1], [2, 2]]), { code: 'bad_input' });
});

/** A synthetic photo: grey background with a bright, distinct colour dot at each landmark. */
async function syntheticFace(width: number, height: number, landmarks: FaceLandmarks5, radius: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3, 60);
  const colours = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
    [0, 255, 255],
  ];
  landmarkList(landmarks).forEach(([cx, cy], i) => {
    for (let y = Math.floor(cy - radius); y <= Math.ceil(cy + radius); y++) {
      for (let x = Math.floor(cx - radius); x <= Math.ceil(cx + radius); x++) {
        if (Math.hypot(x - cx, y - cy) > radius) continue;
        data.set(colours[i], (y * width + x) * 3);
      }
    }
  });
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Centroid of the pixels of one dot colour in an aligned RGB frame. */
function centroid(rgb: Buffer, width: number, colourIndex: number): Point {
  const want = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
    [1, 1, 0],
    [0, 1, 1],
  ][colourIndex];
  let sx = 0;
  let sy = 0;
  let sw = 0;
  for (let i = 0; i < rgb.length / 3; i++) {
    const px = [rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]];
    // weight = how far the dot's channels rise above the grey background beyond the other channels
    // (so the faded rim of a yellow dot does not count as red)
    const on = want.flatMap((v, ch) => (v ? [px[ch] - 60] : []));
    const off = want.flatMap((v, ch) => (v ? [] : [px[ch] - 60]));
    const w = Math.min(...on) - Math.max(...off);
    if (w <= 20) continue;
    sx += w * (i % width);
    sy += w * Math.floor(i / width);
    sw += w;
  }
  assert.ok(sw > 0, `dot ${colourIndex} not found in the aligned image`);
  return [sx / sw, sy / sw];
}

for (const { label, scale, angle, size } of [
  { label: 'a large rotated face (downscale path)', scale: 3.1, angle: 17, size: [900, 1000] },
  { label: 'a small face tilted the other way (upscale path)', scale: 0.6, angle: -28, size: [240, 200] },
]) {
  test(`alignFace puts the landmarks of ${label} on the CelebA template`, async () => {
    const place = similarity(scale, angle, size[0] / 2 - 88 * scale, size[1] / 2 - 130 * scale);
    const landmarks = mapLandmarks(place, CELEBA_ALIGNED_TEMPLATE);
    const photo = await syntheticFace(size[0], size[1], landmarks, 4 * scale);
    const raw = await alignFace(photo, landmarks, { format: 'raw' });
    assert.equal(raw.length, CELEBA_ALIGNED_WIDTH * CELEBA_ALIGNED_HEIGHT * 3);
    landmarkList(CELEBA_ALIGNED_TEMPLATE).forEach(([tx, ty], i) => {
      const [x, y] = centroid(raw, CELEBA_ALIGNED_WIDTH, i);
      assert.ok(Math.hypot(x - tx, y - ty) < 0.75, `landmark ${i} at (${x.toFixed(2)}, ${y.toFixed(2)}), template (${tx}, ${ty})`);
    });
  });
}

test('alignFace with outputSize applies the training centre-square crop + resize', async () => {
  const place = similarity(1.5, 8, 100, 40);
  const landmarks = mapLandmarks(place, CELEBA_ALIGNED_TEMPLATE);
  const photo = await syntheticFace(500, 480, landmarks, 6);
  const size = 112;
  const png = await alignFace(photo, landmarks, { outputSize: size });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [size, size, 3]);
  // 178x218 -> centre 178x178 (rows 20..197) -> size x size.
  const f = size / CELEBA_ALIGNED_WIDTH;
  const top = (CELEBA_ALIGNED_HEIGHT - CELEBA_ALIGNED_WIDTH) / 2;
  landmarkList(CELEBA_ALIGNED_TEMPLATE).forEach(([tx, ty], i) => {
    const [x, y] = centroid(data, size, i);
    const ex = (tx + 0.5) * f - 0.5;
    const ey = (ty - top + 0.5) * f - 0.5;
    assert.ok(Math.hypot(x - ex, y - ey) < 0.75, `landmark ${i} at (${x.toFixed(2)}, ${y.toFixed(2)}), expected (${ex.toFixed(2)}, ${ey.toFixed(2)})`);
  });
});

test('alignFace rejects a bad outputSize and an undecodable image', async () => {
  await assert.rejects(alignFace(Buffer.alloc(10), CELEBA_ALIGNED_TEMPLATE, { outputSize: 0 }), { code: 'bad_input' });
  await assert.rejects(alignFace(Buffer.from('not an image'), CELEBA_ALIGNED_TEMPLATE, { name: 'x/broken.jpg' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'bad_input');
    assert.match(err.message, /x\/broken\.jpg/);
    return true;
  });
});
