/** Detection on real photos from the shared data sets (read in place, never copied into the repo). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { DETECTOR_KINDS, defaultDetector, detectFaces, detectLargestFace, loadFaceModels } from '../../../lib/face/detector';
import { CELEBA_ALIGNED_TEMPLATE, alignFace, landmarkList } from '../../../lib/face/align';
import { detectAndAlign } from '../../../lib/face/detect-and-align';
import { SiamfaceError } from '../../../lib/errors';
import { SHARED_DATA } from '../../support/shared-data';

const DATA = SHARED_DATA;
const FACES_DEV = path.join(DATA, 'faces-dev');
const skip = fs.existsSync(FACES_DEV) ? false : `shared face data not found at ${DATA}`;

function listImages(root: string): string[] {
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .flatMap((d) => fs.readdirSync(path.join(root, d)).sort().map((f) => path.join(d, f)));
}

for (const detector of ['blazeface', 'ssd'] as const) {
  test(`${detector} finds a face on a spread sample of faces-dev (full photos, LFW crops, tight grayscale crops)`, { skip }, async () => {
    await loadFaceModels();
    const all = listImages(FACES_DEV);
    const sample = all.filter((_, i) => i % 20 === 3); // every 20th image: all three kinds of photo
    assert.ok(sample.some((f) => f.includes('faceapi_')) && sample.some((f) => f.includes('deepface_')));
    const missed: string[] = [];
    for (const f of sample) {
      const faces = await detectFaces(fs.readFileSync(path.join(FACES_DEV, f)), { name: f, detector });
      if (faces.length === 0) missed.push(f);
      for (const face of faces) {
        assert.ok(face.score >= 0.5 && face.score <= 1);
        const { leftEye, rightEye, nose } = face.landmarks;
        assert.ok(leftEye[0] < rightEye[0], `${f}: leftEye is left of rightEye`);
        assert.ok(nose[1] > Math.min(leftEye[1], rightEye[1]), `${f}: nose below the eyes`);
      }
    }
    console.log(`${detector}: ${sample.length - missed.length}/${sample.length} faces-dev images with a face; missed: ${missed.join(', ') || 'none'}`);
    assert.deepEqual(missed, []);
  });
}

test('SSD finds a tight 150x150 grayscale crop only thanks to the padded retry; BlazeFace needs none', { skip }, async () => {
  const f = 'Kaley_Cuoco/faceapi_penny2.jpg';
  const image = fs.readFileSync(path.join(FACES_DEV, f));
  assert.equal((await detectFaces(image, { name: f, padRetry: false, detector: 'ssd' })).length, 0);
  assert.equal((await detectFaces(image, { name: f, padRetry: false, detector: 'blazeface' })).length, 1);
  const faces = await detectFaces(image, { name: f, detector: 'ssd' });
  assert.equal(faces.length, 1);
  // Coordinates come back in the original image's frame, not the padded one.
  const { x, y, width, height } = faces[0].box;
  assert.ok(x > -20 && y > -20 && x + width < 170 && y + height < 170, JSON.stringify(faces[0].box));
});

test('an image without a face is rejected with no_face naming the image', { skip }, async () => {
  const w = 320;
  const h = 240;
  const pixels = Buffer.alloc(w * h * 3);
  let seed = 7;
  for (let i = 0; i < pixels.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    pixels[i] = (((i / 3) % w) * 0.5 + (seed >>> 24) * 0.5) & 0xff; // horizontal gradient + noise
  }
  const jpeg = await sharp(pixels, { raw: { width: w, height: h, channels: 3 } }).jpeg().toBuffer();
  await assert.rejects(detectLargestFace(jpeg, { name: 'noise/gradient.jpg' }), (err: unknown) => {
    assert.ok(err instanceof SiamfaceError);
    assert.equal(err.code, 'no_face');
    assert.equal(err.permanent, true);
    assert.match(err.message, /noise\/gradient\.jpg/);
    return true;
  });
});

test('two faces side by side: the largest is chosen by default and the count reported', { skip }, async () => {
  const big = await sharp(path.join(FACES_DEV, 'Colin_Powell/Colin_Powell_0001.jpg')).resize(300, 300).toBuffer();
  const small = await sharp(path.join(FACES_DEV, 'Hugo_Chavez/Hugo_Chavez_0008.jpg')).resize(160, 160).toBuffer();
  const photo = await sharp({ create: { width: 640, height: 360, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .composite([
      { input: small, left: 440, top: 100 },
      { input: big, left: 20, top: 30 },
    ])
    .jpeg({ quality: 92 })
    .toBuffer();
  const faces = await detectFaces(photo, { name: 'composite' });
  const largest = await detectLargestFace(photo, { name: 'composite' });
  assert.ok(largest.faceCount >= 2, `found ${largest.faceCount} faces`);
  assert.equal(largest.faceCount, faces.length);
  assert.deepEqual([largest.imageWidth, largest.imageHeight], [640, 360]);
  const centreX = largest.face.box.x + largest.face.box.width / 2;
  assert.ok(centreX > 20 && centreX < 320, `largest face centre x ${centreX} should be in the big photo`);
  const onSmall = faces.find((f) => f.box.x + f.box.width / 2 > 440);
  assert.ok(onSmall, 'the small face is found too');
  const byScore = await detectLargestFace(photo, { name: 'composite', select: 'highest_score' });
  assert.equal(byScore.face.score, Math.max(...faces.map((f) => f.score)));
});

test('detection leaves no tensors behind', { skip }, async () => {
  await loadFaceModels();
  const image = fs.readFileSync(path.join(FACES_DEV, 'Colin_Powell/Colin_Powell_0001.jpg'));
  await detectFaces(image);
  const before = tf.memory().numTensors;
  await detectFaces(image);
  for (const detector of DETECTOR_KINDS) await detectFaces(image, { detector });
  assert.equal(tf.memory().numTensors, before);
});

test('the default detector is the operator\'s SIAMFACE_FACE_DETECTOR, BlazeFace when unset; a wrong value names the setting', () => {
  assert.equal(defaultDetector({}), 'blazeface');
  assert.equal(defaultDetector({ SIAMFACE_FACE_DETECTOR: 'ssd' }), 'ssd');
  assert.throws(() => defaultDetector({ SIAMFACE_FACE_DETECTOR: 'yolo' }), (err: unknown) => err instanceof SiamfaceError && err.code === 'bad_input' && /SIAMFACE_FACE_DETECTOR.*blazeface.*'yolo'/.test(err.message));
});

test('an aligned real photo has its eyes on the CelebA template (re-detected after alignment)', { skip }, async () => {
  for (const f of ['07201/021650.jpg', '07365/033937.jpg']) {
    const image = fs.readFileSync(path.join(DATA, 'celeba-wild', f));
    const { face } = await detectLargestFace(image, { name: f });
    const aligned = await alignFace(image, face.landmarks);
    const again = await detectLargestFace(aligned, { name: `${f} aligned` });
    const expected = landmarkList(CELEBA_ALIGNED_TEMPLATE);
    const found = landmarkList(again.face.landmarks);
    for (const i of [0, 1]) {
      const err = Math.hypot(found[i][0] - expected[i][0], found[i][1] - expected[i][1]);
      assert.ok(err < 5, `${f}: eye ${i} at ${found[i].map((v) => v.toFixed(1))}, template ${expected[i]}`);
    }
  }
});

test('detectAndAlign returns the model-sized aligned crop', { skip }, async () => {
  const f = 'Barack_Obama/facerec_obama.jpg';
  const result = await detectAndAlign(fs.readFileSync(path.join(FACES_DEV, f)), { name: f, outputSize: 96 });
  assert.equal(result.aligned.length, 96 * 96 * 3);
  assert.equal(result.faceCount, 1);
});

test('a very large photo is detected on a reduced copy and its points come back in full-size pixels', { skip }, async () => {
  const f = 'Colin_Powell/Colin_Powell_0001.jpg';
  const small = fs.readFileSync(path.join(FACES_DEV, f));
  const big = await sharp(small).resize(1500, 1500, { kernel: 'lanczos3' }).jpeg({ quality: 95 }).toBuffer(); // above the 1280 px detection limit
  const [a] = await detectFaces(small, { name: f });
  const [b] = await detectFaces(big, { name: `${f} x6` });
  const k = 1500 / 250;
  for (const key of ['leftEye', 'rightEye', 'nose'] as const) {
    const [x, y] = b.landmarks[key];
    const dist = Math.hypot((x + 0.5) / k - 0.5 - a.landmarks[key][0], (y + 0.5) / k - 0.5 - a.landmarks[key][1]);
    assert.ok(dist < 2, `${key}: ${dist.toFixed(2)} px apart (in 250 px units)`);
  }
  assert.ok(Math.abs(b.box.width / k - a.box.width) < 8, `box width ${b.box.width / k} vs ${a.box.width}`);
});
