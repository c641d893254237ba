/**
 * Can a training step block the event loop long enough to starve the timer heartbeats (activities/support.ts)?
 * Runs the real trainModel (lib/train: loader, steps, validation, checkpoint saves, export) for a few steps on a tiny
 * LFW dataset in MinIO, with a 10 ms timer-lag probe and perf_hooks.monitorEventLoopDelay, and prints the longest
 * event-loop block between consecutive progress reports (one report per step) and over the whole run.
 *
 *   node dist/bench/heartbeat-lag.js [--models densenet121,faceres34] [--steps 4] [--batch 16]
 *
 * densenet121: configs/lfw-cpu-small.json's training at 128 px. faceres34: configs/lfw-cpu-faceres.json's (150 px,
 * pretrained, ArcFace with class-mean centres). The backend is trainModel's choice ('auto': tfjs-node if set up, else
 * wasm; SIAMFACE_TF_BACKEND overrides). Uses the running local stack (SIAMFACE_DATA_DIR) or starts a private one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readStackInfo, s3Config } from '../lib/config';
import { ObjectStore } from '../lib/storage/object-store';
import { privateStackOptions, stackDown, stackUp, type StackOptions } from '../infra/local-stack';
import { trainModel } from '../lib/train/train-model';
import type { TrainConfigInput } from '../lib/train/config';
import { localRunContext } from '../lib/progress';
import { writeTinyLfwDataset } from '../test/integration/train/lfw-shards';

const PROBE_MS = 10;

interface LagResult {
  model: string;
  size: number;
  backend: string;
  steps: number;
  /** Longest block (ms) seen between the report of step i-1 and step i: that step's compute, plus any validation/checkpoint. */
  maxBlockMsPerStep: { step: number; ms: number }[];
  maxBlockMs: number;
  histogramMaxMs: number;
  wallSec: number;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

function trainingConfig(model: string, steps: number, batch: number): { size: number; config: TrainConfigInput } {
  // Validation every 2 steps and a checkpoint every 2 steps, so their blocks are measured too.
  const common = { batchSize: batch, warmupSteps: 1, stepsPerEpoch: 2, checkpointEverySteps: 2, valPairsLimit: 32, stopCheckEverySteps: 2 };
  if (model === 'densenet121') return { size: 128, config: { ...common, weights: { kind: 'none' }, phase1: { steps: 1, lr: 1e-3 }, phase2: { steps: steps - 1, lr: 1e-3 } } as TrainConfigInput };
  if (model === 'faceres34') {
    return {
      size: 150,
      config: { ...common, model: { backbone: 'faceres34' }, weights: { kind: 'pretrained' }, loss: { kind: 'arcface', centres: 'class-mean' }, phase1: { steps: 0, lr: 1e-3 }, phase2: { steps, lr: 1e-5 } } as TrainConfigInput,
    };
  }
  throw new Error(`--models: unknown model '${model}' (densenet121 or faceres34)`);
}

async function measure(store: ObjectStore, model: string, steps: number, batch: number): Promise<LagResult> {
  const { size, config } = trainingConfig(model, steps, batch);
  const data = await writeTinyLfwDataset(store, { datasetId: `lag-${model}`, imageSize: size, trainIdentities: 12, valIdentities: 4, imagesPerIdentity: 4, shardSize: 32, trainPairs: 96, valPairs: 32 });
  const perStep = new Map<number, number>();
  let currentStep = 0;
  let maxBlock = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    const block = now - last - PROBE_MS;
    last = now;
    if (block > (perStep.get(currentStep) ?? 0)) perStep.set(currentStep, block);
    maxBlock = Math.max(maxBlock, block);
  }, PROBE_MS);
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const t0 = Date.now();
  try {
    const ctx = localRunContext({
      onReport: (p) => {
        // A block that ends after step i's report was step i+1's work (or validation/checkpoint after step i).
        if (typeof p.step === 'number') currentStep = p.step + 1;
      },
    });
    const result = await trainModel(store, { runId: `lag-${model}-${Date.now().toString(36)}`, datasetId: data.datasetId, manifestKey: data.manifestKey, pairsKeys: data.pairsKeys, config }, ctx);
    histogram.disable();
    return {
      model,
      size,
      backend: result.backend,
      steps: result.steps,
      maxBlockMsPerStep: [...perStep.entries()].sort((a, b) => a[0] - b[0]).map(([step, ms]) => ({ step, ms: Math.round(ms) })),
      maxBlockMs: Math.round(maxBlock),
      histogramMaxMs: Math.round(histogram.max / 1e6),
      wallSec: (Date.now() - t0) / 1000,
    };
  } finally {
    clearInterval(probe);
  }
}

async function main(): Promise<void> {
  const models = arg('models', 'densenet121,faceres34').split(',');
  const steps = Number(arg('steps', '4'));
  const batch = Number(arg('batch', '16'));
  let privateStack: StackOptions | undefined;
  if (!readStackInfo()) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-heartbeat-lag-'));
    privateStack = await privateStackOptions(dir);
    process.env.SIAMFACE_DATA_DIR = dir;
    await stackUp(privateStack);
  }
  try {
    const store = new ObjectStore({ ...s3Config(), bucket: `bench-lag-${process.pid}` });
    await store.ensureBucket();
    const results: LagResult[] = [];
    for (const model of models) {
      const r = await measure(store, model, steps, batch);
      results.push(r);
      console.log(`\n${model} at ${r.size} px, batch ${batch} pairs, ${r.steps} steps on ${r.backend} (${r.wallSec.toFixed(0)} s wall)`);
      console.log('  step  max event-loop block ms  (step 0 = model build/load and data open; others include validation/checkpoint after the previous step)');
      for (const s of r.maxBlockMsPerStep) console.log(`  ${String(s.step).padStart(4)}  ${String(s.ms).padStart(10)}`);
      console.log(`  max block over the run: ${r.maxBlockMs} ms (timer probe), ${r.histogramMaxMs} ms (monitorEventLoopDelay)`);
    }
    await store.deletePrefix('');
    console.log(JSON.stringify({ bench: 'heartbeat-lag', batch, host: { cpus: os.cpus().length, model: os.cpus()[0]?.model }, results }));
  } finally {
    if (privateStack) await stackDown(privateStack);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`heartbeat-lag: ${err.message}`);
    process.exit(1);
  },
);
