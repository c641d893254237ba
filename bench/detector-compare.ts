/**
 * Does the detector change what verification decides? Each set's own pairs.csv (every k-th pair) is scored with the
 * faceres34 model on ONNX (face-api.js's weights) through siamface's serving path, once per detector
 * (SIAMFACE_FACE_DETECTOR), and the detectors are compared on the pairs all of them could score: faces found,
 * 10-fold accuracy, AUC, and detect + align milliseconds per photo.
 *
 *   node dist/bench/detector-compare.js [--detectors ssd,blazeface] [--sets faces-dev,celeba-wild,lfw-train] [--max-pairs 300]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { selectBackend } from '../lib/model/backend';
import { DETECTOR_KINDS, loadFaceModels, type DetectorKind } from '../lib/face/detector';
import { ImageError, prepareImage } from '../lib/verify/prepare-image';
import { embedPrepared } from '../lib/verify/verify-pair';
import { euclideanDistanceOf } from '../lib/model/distance';
import { kFoldAccuracy, rocAuc } from '../lib/eval/metrics';
import { parsePairsCsv } from '../lib/train/data-loader';
import { median } from './support/stats';
import { SHARED, everyKth } from './support/shared-photos';
import { pretrainedFaceresModel } from './support/pretrained-faceres';
import { runBench } from './support/run-bench';

runBench('detector-compare', async () => {
  const o = new Command()
    .option('--detectors <list>', `detectors to compare (${DETECTOR_KINDS.join(', ')})`, 'ssd,blazeface')
    .option('--sets <list>', 'shared face sets with a pairs.csv', 'faces-dev,celeba-wild,lfw-train')
    .option('--max-pairs <n>', 'pairs per set (every k-th)', '300')
    .parse()
    .opts<{ detectors: string; sets: string; maxPairs: string }>();
  const detectors = o.detectors.split(',') as DetectorKind[];
  const sel = await selectBackend('auto', { log: () => undefined });
  const model = await pretrainedFaceresModel();
  await loadFaceModels();

  const rows = [];
  for (const set of o.sets.split(',')) {
    const pairs = everyKth(parsePairsCsv(fs.readFileSync(path.join(SHARED, set, 'pairs.csv'), 'utf8'), set), Number(o.maxPairs));
    const photos = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
    const embeddings = new Map<DetectorKind, Map<string, Float32Array>>();
    const detectMs = new Map<DetectorKind, number[]>();
    for (const detector of detectors) {
      // The bench is the operator here: the setting every serving path reads.
      process.env.SIAMFACE_FACE_DETECTOR = detector;
      const found = new Map<string, Float32Array>();
      const ms: number[] = [];
      for (const photo of photos) {
        try {
          const prepared = await prepareImage(fs.readFileSync(path.join(SHARED, set, photo)), { prep: model.prep, detect: 'always', name: photo });
          ms.push(prepared.timings.detect);
          found.set(photo, (await embedPrepared(model, [prepared.rgb]))[0]);
        } catch (err) {
          if (!(err instanceof ImageError && err.imageCode === 'no_face')) throw err;
        }
      }
      embeddings.set(detector, found);
      detectMs.set(detector, ms);
    }
    const common = pairs.filter((p) => detectors.every((d) => embeddings.get(d)!.has(p.a) && embeddings.get(d)!.has(p.b)));
    const labels = common.map((p) => p.label);
    for (const detector of detectors) {
      const e = embeddings.get(detector)!;
      const distances = common.map((p) => euclideanDistanceOf(e.get(p.a)!, e.get(p.b)!));
      rows.push({
        set,
        detector,
        photos: photos.length,
        found: e.size,
        pairsScored: common.length,
        accuracy: Number((kFoldAccuracy(distances, labels).mean * 100).toFixed(2)),
        auc: Number(rocAuc(distances, labels).toFixed(4)),
        detectMsPerPhoto: Math.round(median(detectMs.get(detector)!)),
      });
    }
  }
  await model.engine.dispose();
  console.log(`faceres34 (face-api.js weights) on ONNX; ${sel.detail}; detect + align ms per photo, median`);
  console.log('| set | detector | faces found | pairs scored by all | 10-fold acc % | AUC | detect + align ms/photo |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.set} | ${r.detector} | ${r.found}/${r.photos} | ${r.pairsScored} | ${r.accuracy} | ${r.auc} | ${r.detectMsPerPhoto} |`);
  console.log(JSON.stringify({ bench: 'detector-compare', backend: sel.detail, rows }));
});
