/**
 * Verification's per-image work end to end, siamface against face-api.js's own pipeline, on the same photos in the
 * same process and backend: read the file, decode, detect, align and embed.
 *   - siamface: the serving path (lib/verify prepareImage with detection, then embedPrepared) with the faceres34
 *     model the README's example trains (face-api.js's ResNet-34 weights, exported to ONNX as promotion does;
 *     face chip, 150 px);
 *   - face-api.js: detectSingleFace (SSD) + 68 landmarks + its descriptor, as in the quality bench's reference row.
 * The two alternate image by image after a warm-up, so both see the same machine load. It prints, per set, how many
 * faces each found and the median ms per image, and the speed ratio (issue 14's target: siamface >= 2x).
 *
 *   node dist/bench/verify-vs-faceapi.js [--sets faces-dev,celeba-wild,lfw-train] [--images 50] [--warmup 3]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import { Command } from 'commander';
import { selectBackend } from '../lib/model/backend';
import { FACE_API_MODEL_DIR } from '../lib/model/face-api-weights';
import { loadFaceModels } from '../lib/face/detector';
import { decodeRgb } from '../lib/face/image';
import { ImageError, prepareImage } from '../lib/verify/prepare-image';
import { embedPrepared } from '../lib/verify/verify-pair';
import type { ServingModel } from '../lib/verify/model-cache';
import { median } from './support/stats';
import { SHARED, photosSpread } from './support/shared-photos';
import { runBench } from './support/run-bench';
import { pretrainedFaceresModel } from './support/pretrained-faceres';

/** `count` photos spread evenly over a shared set's identities (absolute paths). */
const photosOf = (set: string, count: number) => photosSpread(path.join(SHARED, set), count).map((f) => path.join(SHARED, set, f));

/** siamface's serving path on one photo; false when it finds no face. */
async function siamfaceImage(model: ServingModel, file: string): Promise<boolean> {
  try {
    const prepared = await prepareImage(fs.readFileSync(file), { prep: model.prep, detect: 'always', name: file });
    await embedPrepared(model, [prepared.rgb]);
    return true;
  } catch (err) {
    if (err instanceof ImageError && err.imageCode === 'no_face') return false;
    throw err;
  }
}

/** face-api.js's own pipeline on one photo; false when it finds no face. */
async function faceApiImage(file: string): Promise<boolean> {
  const rgb = await decodeRgb(fs.readFileSync(file), file);
  const t = tf.tensor3d(new Uint8Array(rgb.data), [rgb.height, rgb.width, 3], 'int32');
  try {
    const r = await faceapi.detectSingleFace(t as never, new faceapi.SsdMobilenetv1Options()).withFaceLandmarks().withFaceDescriptor();
    return r !== undefined;
  } finally {
    t.dispose();
  }
}

async function timed(run: () => Promise<boolean>): Promise<{ found: boolean; ms: number }> {
  const t0 = performance.now();
  const found = await run();
  return { found, ms: performance.now() - t0 };
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--sets <list>', 'shared face sets', 'faces-dev,celeba-wild,lfw-train')
    .option('--images <n>', 'photos per set', '50')
    .option('--warmup <n>', 'unmeasured photos first, each side', '3')
    .parse()
    .opts<{ sets: string; images: string; warmup: string }>();
  const sel = await selectBackend('auto', { log: () => undefined });
  const model = await pretrainedFaceresModel();
  await loadFaceModels();
  await faceapi.nets.faceRecognitionNet.loadFromDisk(FACE_API_MODEL_DIR);

  const sets = o.sets.split(',');
  const warm = photosOf(sets[0], Number(o.warmup));
  for (const f of warm) {
    await siamfaceImage(model, f);
    await faceApiImage(f);
  }
  const rows = [];
  for (const set of sets) {
    const photos = photosOf(set, Number(o.images));
    const ours: Array<{ found: boolean; ms: number }> = [];
    const theirs: Array<{ found: boolean; ms: number }> = [];
    for (const [i, f] of photos.entries()) {
      // Alternate which side goes first, so neither always runs on a cache the other warmed.
      if (i % 2 === 0) {
        ours.push(await timed(() => siamfaceImage(model, f)));
        theirs.push(await timed(() => faceApiImage(f)));
      } else {
        theirs.push(await timed(() => faceApiImage(f)));
        ours.push(await timed(() => siamfaceImage(model, f)));
      }
    }
    const oursMs = median(ours.map((r) => r.ms));
    const theirsMs = median(theirs.map((r) => r.ms));
    rows.push({
      set,
      images: photos.length,
      siamfaceFound: ours.filter((r) => r.found).length,
      faceApiFound: theirs.filter((r) => r.found).length,
      siamfaceMsPerImage: Math.round(oursMs),
      faceApiMsPerImage: Math.round(theirsMs),
      speedup: Number((theirsMs / oursMs).toFixed(2)),
    });
  }
  await model.engine.dispose();
  console.log(`Per photo: read + decode + detect + align + embed; ${sel.detail}; siamface embeds with ONNX Runtime (faceres34, 150 px)`);
  console.log('| set | photos | siamface found | face-api.js found | siamface ms/photo | face-api.js ms/photo | siamface speed-up |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.set} | ${r.images} | ${r.siamfaceFound} | ${r.faceApiFound} | ${r.siamfaceMsPerImage} | ${r.faceApiMsPerImage} | **${r.speedup.toFixed(2)}x** |`);
  }
  console.log(JSON.stringify({ bench: 'verify-vs-faceapi', backend: sel.detail, rows }));
}

runBench('verify-vs-faceapi', main);
