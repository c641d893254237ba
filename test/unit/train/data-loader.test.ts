/** Pure parts of the data loader (no S3): pairs parsing, epoch order, augmentation. The S3 parts are tested in test/integration/train. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { augmentParams, augmentRgb, epochOrder, NO_AUGMENT, parsePairsCsv } from '../../../lib/train/data-loader';

test('parsePairsCsv reads a,b,label and names the file and line of a bad row', () => {
  const pairs = parsePairsCsv('a,b,label\nx/1.jpg,x/2.jpg,1\n"y,1.jpg",z/1.jpg,0\n\n', 's3://b/pairs.csv');
  assert.deepEqual(pairs, [
    { a: 'x/1.jpg', b: 'x/2.jpg', label: 1 },
    { a: 'y,1.jpg', b: 'z/1.jpg', label: 0 },
  ]);
  assert.throws(() => parsePairsCsv('a,b\n', 'p.csv'), /p\.csv line 1: expected header/);
  assert.throws(() => parsePairsCsv('a,b,label\nx,y,1\nx,y,2\n', 'p.csv'), /p\.csv line 3: label must be 0 or 1/);
  assert.throws(() => parsePairsCsv('a,b,label\nx,1\n', 'p.csv'), /p\.csv line 2: expected 3 fields/);
});

test('epochOrder is a permutation that depends only on (seed, epoch)', () => {
  const o = epochOrder(50, 3, 0);
  assert.deepEqual([...o].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(epochOrder(50, 3, 0), o);
  assert.notDeepEqual(epochOrder(50, 3, 1), o);
  assert.notDeepEqual(epochOrder(50, 4, 0), o);
});

test('augmentation parameters are drawn from (seed, epoch, index, slot) and respect the config', () => {
  const cfg = { flip: true, scaleJitter: 0.2, brightness: 0.1, contrast: 0.3 };
  const p = augmentParams(cfg, 1, 2, 3, 4);
  assert.deepEqual(augmentParams(cfg, 1, 2, 3, 4), p);
  assert.notDeepEqual(augmentParams(cfg, 1, 2, 3, 5), p);
  let flips = 0;
  for (let i = 0; i < 200; i++) {
    const q = augmentParams(cfg, 1, 0, i, 0);
    if (q.flip) flips++;
    assert.ok(q.scale >= 1 && q.scale <= 1.2);
    assert.ok(Math.abs(q.brightness) <= 0.1 && Math.abs(q.contrast - 1) <= 0.3);
  }
  assert.ok(flips > 60 && flips < 140, `about half flipped: ${flips}`);
  const off = augmentParams({ flip: false, scaleJitter: 0, brightness: 0, contrast: 0 }, 1, 0, 0, 0);
  assert.equal(off.flip, false);
  assert.equal(off.scale, 1);
});

test('augmentRgb: flip mirrors rows exactly, brightness shifts and clips, identity is a no-op', async () => {
  const S = 8;
  const rgb = Buffer.alloc(S * S * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 256;
  assert.equal(await augmentRgb(rgb, S, NO_AUGMENT), rgb);
  const flipped = await augmentRgb(rgb, S, { ...NO_AUGMENT, flip: true });
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++)
      for (let c = 0; c < 3; c++) assert.equal(flipped[(y * S + x) * 3 + c], rgb[(y * S + (S - 1 - x)) * 3 + c]);
  const brighter = await augmentRgb(rgb, S, { ...NO_AUGMENT, brightness: 0.1 });
  for (let i = 0; i < rgb.length; i++) assert.ok(Math.abs(brighter[i] - Math.min(255, rgb[i] + 25.5)) <= 1, `pixel ${i}: ${rgb[i]} -> ${brighter[i]}`);
  const zoomed = await augmentRgb(rgb, S, { ...NO_AUGMENT, scale: 1.5, cropX: 0, cropY: 0 });
  assert.equal(zoomed.length, rgb.length);
  // Same parameters, same bytes (libvips is deterministic).
  const p = { flip: true, scale: 1.3, cropX: 0.2, cropY: 0.7, contrast: 1.2, brightness: -0.05 };
  assert.ok((await augmentRgb(rgb, S, p)).equals(await augmentRgb(rgb, S, p)));
  assert.ok(sharp.versions.vips);
});
