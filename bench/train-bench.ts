/**
 * Training throughput of the full DenseNet121 Siamese tower, per backend and input size, on the
 * real path: pairs and images streamed from shards in MinIO through lib/train's loader (decode,
 * augment, preprocess, prefetch), then a real training step (phase 2: all layers, Adam).
 * Each (backend, size) runs in its own child process so peak RSS is its own.
 *
 *   node dist/bench/train-bench.js [--backends wasm,cpu,tensorflow] [--sizes 64,112] [--batch 4]
 *        [--steps 3] [--warmup 1] [--timeout 600]
 *
 * Uses the running local stack (SIAMFACE_DATA_DIR) or starts a private one. Backends that cannot
 * load here (tfjs-node absent) are reported as unavailable. Prints a table and one JSON line.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readStackInfo, s3Config } from '../lib/config';
import { ObjectStore } from '../lib/storage/object-store';
import { privateStackOptions, stackDown, stackUp, type StackOptions } from '../infra/local-stack';
import { buildEmbeddingTower, countParams } from '../lib/model/tower';
import { selectBackend, type BackendPreference } from '../lib/model/backend';
import { PairBatchLoader, ShardImageSource, batchTensors, loadPairs } from '../lib/train/data-loader';
import { FlatAdamOptimizer } from '../lib/train/flat-adam';
import { contrastiveObjective, setLearningRate, trainStep, trainableVariables } from '../lib/train/siamese-step';
import { IMAGENET_NORMALIZATION } from '../lib/model/preprocess';
import { registerNativeTrainingKernels, useNativeBatchNormTraining } from '../lib/model/native-kernels';
import { writeTinyLfwDataset } from '../test/integration/train/lfw-shards';
import { median } from './support/stats';
import { runBench } from './support/run-bench';

interface ChildSpec {
  backend: BackendPreference;
  size: number;
  batch: number;
  steps: number;
  warmup: number;
  s3: ReturnType<typeof s3Config>;
  manifestKey: string;
  pairsKey: string;
}

interface ChildResult {
  backend: string;
  detail: string;
  size: number;
  batch: number;
  params: number;
  imagesPerSec: number;
  stepSec: number[];
  dataWaitSec: number;
  buildSec: number;
  peakRssMiB: number;
  error?: string;
}

const RESULT_TAG = 'TRAIN_BENCH_RESULT ';

async function child(spec: ChildSpec): Promise<void> {
  const sel = await selectBackend(spec.backend, { log: () => undefined });
  if (spec.backend !== 'auto' && !(sel.backend === spec.backend || (spec.backend === 'tensorflow' && sel.native))) {
    throw new Error(`backend ${spec.backend} unavailable: ${sel.attempts.map((a) => `${a.candidate}: ${a.error}`).join('; ')}`);
  }
  const store = new ObjectStore(spec.s3);
  const t0 = Date.now();
  const model = buildEmbeddingTower({ inputSize: spec.size }, { seed: 1 });
  const buildSec = (Date.now() - t0) / 1000;
  // As trainModel does on tfjs-node: fused native gradients and batch norm.
  if (sel.backend === 'tensorflow') {
    registerNativeTrainingKernels();
    useNativeBatchNormTraining(model);
  }
  const pairs = await loadPairs(store, spec.pairsKey);
  const source = await ShardImageSource.open(store, spec.manifestKey, { imageSize: spec.size, decodedCacheImages: 4096, shardCacheBytes: 1 << 30, splits: ['train'] });
  const total = spec.warmup + spec.steps;
  const loader = new PairBatchLoader(source, pairs, {
    batchSize: spec.batch,
    imageSize: spec.size,
    seed: 1,
    augment: { flip: true, scaleJitter: 0.1, brightness: 0.1, contrast: 0.1 },
    stepsPerEpoch: Math.floor(pairs.length / spec.batch),
    prefetch: 2,
    normalization: IMAGENET_NORMALIZATION,
  });
  const opt = new FlatAdamOptimizer(1e-4);
  const { variables } = trainableVariables(model);
  const stepSec: number[] = [];
  let dataWait = 0;
  let measuredStart = 0;
  let i = 0;
  for await (const batch of loader.batches({ epoch: 0, index: 0 }, total)) {
    if (i === spec.warmup) measuredStart = Date.now();
    const s0 = Date.now();
    const { images, labels } = batchTensors(batch, spec.size);
    setLearningRate(opt, 1e-4);
    trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1.0));
    tf.dispose([images, labels]);
    if (i >= spec.warmup) stepSec.push((Date.now() - s0) / 1000);
    i++;
  }
  const wall = (Date.now() - measuredStart) / 1000;
  dataWait = wall - stepSec.reduce((a, b) => a + b, 0);
  const result: ChildResult = {
    backend: sel.backend,
    detail: sel.detail,
    size: spec.size,
    batch: spec.batch,
    params: countParams(model),
    imagesPerSec: (2 * spec.batch * spec.steps) / wall,
    stepSec,
    dataWaitSec: Math.max(0, dataWait),
    buildSec,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  console.log(RESULT_TAG + JSON.stringify(result));
}

function runChild(spec: ChildSpec, timeoutSec: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [__filename, '--child', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutSec * 1000);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_TAG));
      if (line) return resolve(JSON.parse(line.slice(RESULT_TAG.length)) as ChildResult);
      const why = signal === 'SIGKILL' ? `timeout after ${timeoutSec} s` : (err.trim().split('\n').filter((l) => /Error|unavailable/.test(l))[0] ?? `exit ${code}`).slice(0, 160);
      resolve({ backend: spec.backend, detail: '', size: spec.size, batch: spec.batch, params: 0, imagesPerSec: 0, stepSec: [], dataWaitSec: 0, buildSec: 0, peakRssMiB: 0, error: why });
    });
  });
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const backends = arg('backends', 'wasm,cpu,tensorflow').split(',') as BackendPreference[];
  const sizes = arg('sizes', '64,112').split(',').map(Number);
  const batch = Number(arg('batch', '4'));
  const steps = Number(arg('steps', '3'));
  const warmup = Number(arg('warmup', '1'));
  const timeout = Number(arg('timeout', '600'));

  let privateStack: StackOptions | undefined;
  if (!readStackInfo()) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-train-bench-'));
    privateStack = await privateStackOptions(dir);
    process.env.SIAMFACE_DATA_DIR = dir;
    await stackUp(privateStack);
  }
  try {
    const s3 = { ...s3Config(), bucket: `bench-train-${process.pid}` };
    const store = new ObjectStore(s3);
    await store.ensureBucket();
    const data = await writeTinyLfwDataset(store, { datasetId: 'bench', imageSize: 128, trainIdentities: 30, valIdentities: 0, imagesPerIdentity: 4, shardSize: 60, trainPairs: 120, valPairs: 0 });
    const results: ChildResult[] = [];
    for (const backend of backends) {
      for (const size of sizes) {
        const r = await runChild({ backend, size, batch, steps, warmup, s3, manifestKey: data.manifestKey, pairsKey: data.pairsKeys.train }, timeout);
        results.push(r);
        console.error(`done: ${backend} ${size}px ${r.error ?? `${r.imagesPerSec.toFixed(2)} img/s`}`);
      }
    }
    await store.deletePrefix('');
    console.log(`\nTraining throughput, DenseNet121 Siamese tower (all layers trainable, Adam), ${batch} pairs = ${2 * batch} images/step, ${steps} steps after ${warmup} warm-up, data from MinIO shards`);
    console.log('backend     size  images/s  median step s  data wait s  peak RSS MiB  note');
    for (const r of results) {
      const cols = r.error
        ? [r.backend.padEnd(10), String(r.size).padStart(5), '-'.padStart(9), '-'.padStart(14), '-'.padStart(12), '-'.padStart(13), ` ${r.error}`]
        : [r.backend.padEnd(10), String(r.size).padStart(5), r.imagesPerSec.toFixed(2).padStart(9), median(r.stepSec).toFixed(2).padStart(14), r.dataWaitSec.toFixed(2).padStart(12), r.peakRssMiB.toFixed(0).padStart(13), ` ${r.params} params`];
      console.log(cols.join(' '));
    }
    console.log(JSON.stringify({ bench: 'train', batch, steps, warmup, host: { cpus: os.cpus().length, model: os.cpus()[0]?.model }, results }));
  } finally {
    if (privateStack) await stackDown(privateStack);
  }
}

if (process.argv[2] === '--child') runBench('train-bench child', () => child(JSON.parse(process.argv[3]) as ChildSpec));
else runBench('train-bench', main);
