/**
 * Face detection hit rate and speed on a folder of `<identity>/<image>` photos (the shared data sets).
 * Usage: node dist/bench/face-detect-bench.js <set folder> [--limit N] [--detector ssd|tiny|blazeface]
 * Prints one JSON line: images, found without / with the padded retry, multi-face images, median ms.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { detectFaces, loadFaceModels, type DetectorKind } from '../lib/face/detector';
import { median } from './support/stats';
import { photosSpread } from './support/shared-photos';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const root = process.argv[2];
  if (!root || !fs.existsSync(root)) throw new Error(`usage: face-detect-bench <set folder> [--limit N] [--detector ssd|tiny|blazeface]; got '${root}'`);
  const limit = Number(arg('limit', '1000000'));
  const detector = arg('detector', 'ssd') as DetectorKind;
  const files = photosSpread(root, limit);
  await loadFaceModels();
  const times: number[] = [];
  let foundFirst = 0;
  let found = 0;
  let multi = 0;
  const missed: string[] = [];
  for (const f of files) {
    const image = fs.readFileSync(path.join(root, f));
    const t0 = performance.now();
    let faces = await detectFaces(image, { name: f, detector, padRetry: false });
    times.push(performance.now() - t0);
    if (faces.length > 0) foundFirst++;
    else faces = await detectFaces(image, { name: f, detector });
    if (faces.length > 0) found++;
    else missed.push(f);
    if (faces.length > 1) multi++;
  }
  const medianMs = median(times);
  console.log(
    JSON.stringify({
      set: path.basename(root),
      backend: tf.getBackend(),
      detector,
      images: files.length,
      foundWithoutRetry: foundFirst,
      foundWithPaddedRetry: found,
      multiFace: multi,
      medianMsPerImage: Math.round(medianMs),
      imagesPerSecond: +(1000 / medianMs).toFixed(2),
      missed,
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
