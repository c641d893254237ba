import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SHARED_DATA } from '../../support/shared-data';
import sharp from 'sharp';
import { BadImageError, preprocessImage, type PreprocessOptions } from '../../../lib/data/preprocess';

const OPTS: PreprocessOptions = { size: 64, crop: 'centre', maxInputPixels: 4_000_000, maxInputBytes: 10_000_000 };
const LFW = path.join(SHARED_DATA, 'lfw-train/Aaron_Peirsol/Aaron_Peirsol_0001.jpg');

async function rgbJpeg(w: number, h: number): Promise<Buffer> {
  // Left half red, right half blue: tells a centre crop from a squash.
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(x < w / 2 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
}

async function badReason(data: Buffer, opts = OPTS): Promise<string> {
  try {
    await preprocessImage(data, opts);
  } catch (err) {
    assert.ok(err instanceof BadImageError, `expected BadImageError, got ${err}`);
    return err.reason;
  }
  assert.fail('image was accepted');
}

test('a real aligned face becomes a size x size RGB JPEG', { skip: !fs.existsSync(LFW) }, async () => {
  const out = await preprocessImage(fs.readFileSync(LFW), OPTS);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['jpeg', 64, 64, 3]);
});

test('centre square crop keeps the middle of a portrait image', async () => {
  const tall = await rgbJpeg(100, 300);
  const out = await sharp(await preprocessImage(tall, OPTS)).raw().toBuffer({ resolveWithObject: true });
  assert.equal(out.info.width, 64);
  const px = (x: number, y: number) => [...out.data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)];
  assert.ok(px(5, 32)[0] > 200 && px(5, 32)[2] < 60, `left should be red: ${px(5, 32)}`);
  assert.ok(px(58, 32)[2] > 200 && px(58, 32)[0] < 60, `right should be blue: ${px(58, 32)}`);
});

test('grayscale input comes out as 3-channel RGB', async () => {
  const gray = await sharp(Buffer.alloc(80 * 80, 128), { raw: { width: 80, height: 80, channels: 1 } }).jpeg().toBuffer();
  const meta = await sharp(await preprocessImage(gray, OPTS)).metadata();
  assert.equal(meta.channels, 3);
});

test('bad inputs are classified', async () => {
  const good = await rgbJpeg(200, 200);
  assert.match(await badReason(Buffer.alloc(0)), /empty file/);
  assert.match(await badReason(Buffer.from('just some text, not a picture\n'.repeat(10))), /not an image/);
  assert.match(await badReason(good.subarray(0, Math.floor(good.length / 2))), /corrupt or truncated/);
  const bomb = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: '#000' } }).png({ compressionLevel: 9 }).toBuffer();
  assert.ok(bomb.length < 200_000, 'the bomb is small on disk');
  assert.match(await badReason(bomb), /5000x5000 pixels, above the 4000000-pixel limit/);
  assert.match(await badReason(good, { ...OPTS, maxInputBytes: 100 }), /above the 100-byte limit/);
});

test('face-align uses the aligner when given and skips images without a face', async () => {
  const img = await rgbJpeg(120, 120);
  let calls = 0;
  const aligner = async (b: Buffer, size: number) => {
    calls++;
    return size === 64 ? sharp(b).resize(64, 64).png().toBuffer() : null;
  };
  await preprocessImage(img, { ...OPTS, crop: 'face-align', aligner });
  assert.equal(calls, 1);
  assert.match(await badReason(img, { ...OPTS, size: 32, crop: 'face-align', aligner }), /no face found/);
});
