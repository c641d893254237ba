/**
 * Can a training step block the event loop long enough to starve the timer heartbeats (activities/support.ts)?
 * Runs the real trainModel (lib/train: loader, steps, validation, checkpoint saves, export) for a few steps on a tiny
 * LFW dataset in MinIO, with a 10 ms timer-lag probe and perf_hooks.monitorEventLoopDelay, and prints the longest
 * event-loop block, which training steps finished inside each block, and the longest block per step.
 *
 *   node dist/bench/heartbeat-lag.js [--models densenet121,faceres34] [--steps 6] [--batch 16]
 *
 * The timer probe is what the heartbeat timer (a JS timer too) sees. monitorEventLoopDelay's libuv timer can read up to
 * two steps' worth: a step that resumes from a timer turn runs in the same timers phase, before that libuv timer.
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

interface Block {
  /** When the block began, seconds since the run started. */
  atSec: number;
  ms: number;
  /** Training steps that finished inside the block (a block can hold several when the loop never yields to timers). */
  steps: number[];
}

interface LagResult {
  model: string;
  size: number;
  backend: string;
  steps: number;
  /** Median wall time of one step as trainModel measured it (its imagesPerSec). */
  stepMs: number | null;
  /** Every block of 100 ms or more, in order. */
  blocks: Block[];
  maxBlockMs: number;
  histogramMaxMs: number;
  wallSec: number;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

function trainingConfig(model: string, steps: number, batch: number): { size: number; config: TrainConfigInput } {
  // One epoch, validated at its end; the default stop check (every 10 steps) and no periodic checkpoint, so the only I/O
  // between steps is the loader's: whether steps chain into one block without a timer turn is part of what is measured.
  const common = { batchSize: batch, warmupSteps: 1, stepsPerEpoch: steps, checkpointEverySteps: 100_000, valPairsLimit: 32, stopCheckEverySteps: 10 };
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
  const t0 = performance.now();
  const stepEnds: { t: number; step: number }[] = [];
  const rawBlocks: { start: number; end: number }[] = [];
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    if (now - last - PROBE_MS >= 100) rawBlocks.push({ start: last + PROBE_MS, end: now });
    last = now;
  }, PROBE_MS);
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let imagesPerSec: number | null = null;
  try {
    const ctx = localRunContext({
      onReport: (p) => {
        // trainModel reports right after each step (and after that step's validation/checkpoint, if any).
        if (typeof p.step === 'number' && p.step > 0 && stepEnds.at(-1)?.step !== p.step) stepEnds.push({ t: performance.now(), step: p.step });
        if (typeof p.imagesPerSec === 'number') imagesPerSec = p.imagesPerSec;
      },
    });
    const result = await trainModel(store, { runId: `lag-${model}-${Date.now().toString(36)}`, datasetId: data.datasetId, manifestKey: data.manifestKey, pairsKeys: data.pairsKeys, config }, ctx);
    histogram.disable();
    const blocks = rawBlocks.map((b) => ({ atSec: Math.round((b.start - t0) / 100) / 10, ms: Math.round(b.end - b.start), steps: stepEnds.filter((s) => s.t >= b.start && s.t <= b.end).map((s) => s.step) }));
    return {
      model,
      size,
      backend: result.backend,
      steps: result.steps,
      stepMs: imagesPerSec ? Math.round((2 * batch * 1000) / imagesPerSec) : null,
      blocks,
      maxBlockMs: Math.max(0, ...blocks.map((b) => b.ms)),
      histogramMaxMs: Math.round(histogram.max / 1e6),
      wallSec: (performance.now() - t0) / 1000,
    };
  } finally {
    clearInterval(probe);
  }
}

/** The longest block divided by the steps it held (a block holding no step end counts as one). */
function maxPerStep(r: LagResult): number {
  return Math.max(0, ...r.blocks.map((b) => Math.round(b.ms / Math.max(1, b.steps.length))));
}

async function main(): Promise<void> {
  const models = arg('models', 'densenet121,faceres34').split(',');
  const steps = Number(arg('steps', '6'));
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
      console.log(`\n${model} at ${r.size} px, batch ${batch} pairs, ${r.steps} steps on ${r.backend} (${r.wallSec.toFixed(0)} s wall, ~${r.stepMs ?? '?'} ms per step)`);
      console.log('  at s   block ms  steps finished inside the block');
      for (const b of r.blocks) console.log(`  ${b.atSec.toFixed(1).padStart(5)} ${String(b.ms).padStart(9)}  ${b.steps.join(', ') || '-'}`);
      console.log(`  max event-loop block: ${r.maxBlockMs} ms (timer probe), ${r.histogramMaxMs} ms (monitorEventLoopDelay); max per step: ${maxPerStep(r)} ms`);
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
