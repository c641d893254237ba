/**
 * Verification speed on this machine: latency per pair (cold: engine creation + first pair; warm:
 * p50/p95 over later pairs) and batch throughput (pairs/s, each unique image prepared and embedded
 * once in batches of 16, as verifyChunk does), for the ONNX and tfjs engines, on a tiny tower (32 px)
 * and a full DenseNet121 tower (128 px), random weights. Real LFW pairs from the shared data
 * (centre crop, as for aligned inputs), and optionally faces-dev photos with detection + alignment.
 * The registry is not involved (its reads are a few ms of S3 GETs): the same lib/verify functions
 * run on engines built in-process.
 *
 * Usage: node dist/bench/verify-bench.js [--pairs 20] [--batch-pairs 60] [--models tiny,densenet121] [--engines onnx,tfjs] [--detect-pairs 0]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../lib/model/backend';
import { buildEmbeddingTower, type ModelConfig } from '../lib/model/tower';
import { IMAGENET_NORMALIZATION } from '../lib/model/preprocess';
import type { ImagePrep } from '../lib/verify/detection-policy';
import { exportToOnnx } from '../lib/infer/onnx-export';
import { OnnxEngine, TfjsEngine, type EmbeddingEngine } from '../lib/infer/engine';
import { euclideanDistanceOf } from '../lib/model/distance';
import { parseCsvRecords } from '../lib/data/csv';
import { prepareImage } from '../lib/verify/prepare-image';
import { embedPrepared } from '../lib/verify/verify-pair';
import type { ServingModel } from '../lib/verify/model-cache';
import type { DetectMode } from '../lib/verify/types';
import { quantileOf } from './support/stats';
import { SHARED } from './support/shared-photos';


function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const MODELS: Record<string, Partial<ModelConfig>> = {
  tiny: { inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [32, 16], embeddingDim: 8 },
  densenet121: { inputSize: 128 },
};

function pairsOf(set: string, n: number, every = 1): Array<[string, string]> {
  const file = path.join(SHARED, set, 'pairs.csv');
  return parseCsvRecords(fs.readFileSync(file, 'utf8'), file)
    .slice(1)
    .filter((_, i) => i % every === 0)
    .slice(0, n)
    .map(({ cells: [a, b] }) => [path.join(SHARED, set, a), path.join(SHARED, set, b)]);
}

const round = (v: number) => Math.round(v * 10) / 10;

async function verifyOnce(model: ServingModel, a: string, b: string, detect: DetectMode): Promise<number> {
  const t0 = performance.now();
  const opts = { prep: model.prep, detect, name: a };
  const pa = await prepareImage(fs.readFileSync(a), opts);
  const pb = await prepareImage(fs.readFileSync(b), { ...opts, name: b });
  const [ea, eb] = await embedPrepared(model, [pa.rgb, pb.rgb]);
  euclideanDistanceOf(ea, eb);
  return performance.now() - t0;
}

async function batchThroughput(model: ServingModel, pairs: Array<[string, string]>): Promise<number> {
  const t0 = performance.now();
  const unique = [...new Set(pairs.flat())];
  const emb = new Map<string, Float32Array>();
  for (let i = 0; i < unique.length; i += 16) {
    const part = unique.slice(i, i + 16);
    const rgbs = await Promise.all(part.map(async (p) => (await prepareImage(fs.readFileSync(p), { prep: model.prep, detect: 'never', name: p })).rgb));
    (await embedPrepared(model, rgbs)).forEach((e, j) => emb.set(part[j], e));
  }
  for (const [a, b] of pairs) euclideanDistanceOf(emb.get(a)!, emb.get(b)!);
  return pairs.length / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const nPairs = Number(arg('pairs', '20'));
  const nBatch = Number(arg('batch-pairs', '60'));
  const nDetect = Number(arg('detect-pairs', '0'));
  const backend = await selectBackend('auto', { log: () => {} });
  const lfw = pairsOf('lfw-train', nPairs + 1, 7);
  const batchPairs = pairsOf('lfw-train', nBatch, 3);
  const rows = [];
  for (const name of arg('models', 'tiny,densenet121').split(',')) {
    const tower = buildEmbeddingTower(MODELS[name], { seed: 1 });
    for (const kind of arg('engines', 'onnx,tfjs').split(',')) {
      const coldStart = performance.now();
      let engine: EmbeddingEngine;
      if (kind === 'onnx') engine = await OnnxEngine.create(exportToOnnx(tower), { log: () => {} });
      else engine = new TfjsEngine(tower);
      const prep: ImagePrep = { inputSize: engine.inputSize, datasetImageSize: engine.inputSize, geometry: 'dataset-crop', normalization: IMAGENET_NORMALIZATION };
      const model = { name, version: 0, engine, prep, card: undefined as never } as ServingModel;
      await verifyOnce(model, lfw[0][0], lfw[0][1], 'never');
      const coldMs = performance.now() - coldStart;
      const warm: number[] = [];
      for (const [a, b] of lfw.slice(1)) warm.push(await verifyOnce(model, a, b, 'never'));
      const throughput = await batchThroughput(model, batchPairs);
      const row: Record<string, unknown> = {
        model: name,
        inputSize: engine.inputSize,
        engine: engine.describe(),
        coldFirstPairMs: round(coldMs),
        warmP50Ms: round(quantileOf(warm, 0.5)),
        warmP95Ms: round(quantileOf(warm, 0.95)),
        warmPairs: warm.length,
        batchPairsPerSec: round(throughput),
        batchPairs: batchPairs.length,
      };
      if (nDetect > 0) {
        const photos = pairsOf('faces-dev', nDetect, 97);
        const times: number[] = [];
        for (const [a, b] of photos) times.push(await verifyOnce(model, a, b, 'always'));
        Object.assign(row, { detectAlignP50Ms: round(quantileOf(times, 0.5)), detectAlignP95Ms: round(quantileOf(times, 0.95)), detectPairs: times.length });
      }
      rows.push(row);
      console.log(JSON.stringify(row));
      if (kind === 'onnx') await engine.dispose();
    }
    tower.dispose();
  }
  console.log(JSON.stringify({ backend: backend.backend, tfjs: tf.version.tfjs, results: rows }));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack);
    process.exit(1);
  },
);
