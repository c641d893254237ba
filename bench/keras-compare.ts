/**
 * Training speed against Keras on the same machine: the same DenseNet121 Siamese tower (contrastive loss, Adam,
 * all layers, [a; b] images in one batch), one step at a time on fixed random inputs, in siamface (tfjs-node: the
 * native TensorFlow the CPU worker trains on, with its fused gradients) and in Keras 3 / TensorFlow (one
 * tf.function step, bench/keras/train_tower.py). Each measurement runs in its own process (so peak RSS is its
 * own), alternating siamface and Keras, `--rounds` times per size; the table shows medians and the ratio.
 *
 * Keras is a dev-only tool, never a project dependency: the first run creates a Python venv with
 * tensorflow-cpu from PyPI in the tools cache (~1 minute), later runs reuse it.
 *
 *   node dist/bench/keras-compare.js [--sizes 64,112] [--batch 16] [--steps 10] [--warmup 3] [--rounds 3] [--bf16] [--tfjs-adam]
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { buildEmbeddingTower, countParams } from '../lib/model/tower';
import { selectBackend } from '../lib/model/backend';
import { registerNativeTrainingKernels, useNativeBatchNormTraining } from '../lib/model/native-kernels';
import { FlatAdamOptimizer } from '../lib/train/flat-adam';
import { contrastiveObjective, setLearningRate, trainStep, trainableVariables } from '../lib/train/siamese-step';
import { median } from './support/stats';
import { runBench } from './support/run-bench';

const KERAS_TF_VERSION = '2.21.0';
const KERAS_SCRIPT = path.resolve(__dirname, '..', '..', 'bench', 'keras', 'train_tower.py');
const RESULT_TAG = 'KERAS_COMPARE_RESULT ';

interface Measurement {
  framework: string;
  dtype?: string;
  size: number;
  batch: number;
  params: number;
  medianStepSec: number;
  imagesPerSec: number;
  peakRssMiB: number;
}

interface Spec {
  size: number;
  batch: number;
  steps: number;
  warmup: number;
  /** tf.train.adam instead of the FlatAdamOptimizer training uses (to measure what it saves). */
  tfjsAdam?: boolean;
}

/** One siamface measurement (in a child process): the training step alone, as trainModel runs it on tfjs-node. */
async function siamfaceChild(spec: Spec): Promise<void> {
  const sel = await selectBackend('tensorflow', { log: () => undefined });
  if (!sel.native) throw new Error(`tfjs-node is not available here (${sel.detail}); run infra/setup-tfjs-node.sh`);
  const model = buildEmbeddingTower({ inputSize: spec.size }, { seed: 1 });
  registerNativeTrainingKernels();
  useNativeBatchNormTraining(model);
  const images = tf.randomNormal([2 * spec.batch, spec.size, spec.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: spec.batch }, (_, i) => i % 2), 'float32');
  const opt = spec.tfjsAdam ? tf.train.adam(1e-4) : new FlatAdamOptimizer(1e-4);
  const { variables } = trainableVariables(model);
  const times: number[] = [];
  for (let i = 0; i < spec.warmup + spec.steps; i++) {
    const t0 = performance.now();
    setLearningRate(opt, 1e-4);
    trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1.0));
    if (i >= spec.warmup) times.push((performance.now() - t0) / 1000);
  }
  const m = median(times);
  const result: Measurement = {
    framework: `siamface (${sel.detail}${spec.tfjsAdam ? ', tf.train.adam' : ''})`,
    size: spec.size,
    batch: spec.batch,
    params: countParams(model),
    medianStepSec: m,
    imagesPerSec: (2 * spec.batch) / m,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  console.log(RESULT_TAG + JSON.stringify(result));
}

/** The Keras venv in the tools cache, where infra/*.sh keep their tools (created on first use). */
function kerasPython(): string {
  const tools = process.env.SIAMFACE_TOOLS_DIR ?? path.join(os.homedir(), '.cache', 'siamface', 'tools');
  const venv = path.join(tools, `keras-tf${KERAS_TF_VERSION}`);
  const python = path.join(venv, 'bin', 'python');
  const ready = path.join(venv, '.siamface-ready');
  if (!fs.existsSync(ready)) {
    console.error(`[keras-compare] creating ${venv} with tensorflow-cpu==${KERAS_TF_VERSION} from PyPI (once, ~1 minute)`);
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(path.join(venv, 'bin', 'pip'), ['install', '--quiet', `tensorflow-cpu==${KERAS_TF_VERSION}`], { stdio: 'inherit' });
    fs.writeFileSync(ready, `${KERAS_TF_VERSION}\n`);
  }
  return python;
}

function run(cmd: string, args: string[], parse: (out: string) => Measurement): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('exit', (code) => {
      try {
        resolve(parse(out));
      } catch {
        reject(new Error(`${path.basename(cmd)} ${args.slice(0, 2).join(' ')} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      }
    });
  });
}

const siamfaceRun = (spec: Spec) =>
  run(process.execPath, [__filename, '--child', JSON.stringify(spec)], (out) => JSON.parse(out.split('\n').find((l) => l.startsWith(RESULT_TAG))!.slice(RESULT_TAG.length)) as Measurement);

const kerasRun = (python: string, spec: Spec, dtype: string) =>
  run(
    python,
    [KERAS_SCRIPT, '--size', String(spec.size), '--batch', String(spec.batch), '--steps', String(spec.steps), '--warmup', String(spec.warmup), '--dtype', dtype],
    (out) => JSON.parse(out.trim().split('\n').pop()!) as Measurement,
  );

async function main(): Promise<void> {
  const opts = new Command()
    .option('--sizes <list>', 'input sizes', '64,112')
    .option('--batch <n>', 'pairs per step', '16')
    .option('--steps <n>', 'measured steps per run', '10')
    .option('--warmup <n>', 'unmeasured steps first', '3')
    .option('--rounds <n>', 'alternating runs of each side per size', '3')
    .option('--bf16', "also run Keras's mixed_bfloat16 policy (AMX on CPUs that have it)")
    .option('--tfjs-adam', "also run siamface with tf.train.adam instead of its FlatAdamOptimizer")
    .parse()
    .opts<{ sizes: string; batch: string; steps: string; warmup: string; rounds: string; bf16?: boolean; tfjsAdam?: boolean }>();
  const python = kerasPython();
  const rows: Array<{ size: number; siamface: Measurement[]; keras: Measurement[]; kerasBf16: Measurement[]; tfjsAdam: Measurement[] }> = [];
  for (const size of opts.sizes.split(',').map(Number)) {
    const spec: Spec = { size, batch: Number(opts.batch), steps: Number(opts.steps), warmup: Number(opts.warmup) };
    const row = { size, siamface: [] as Measurement[], keras: [] as Measurement[], kerasBf16: [] as Measurement[], tfjsAdam: [] as Measurement[] };
    for (let r = 0; r < Number(opts.rounds); r++) {
      row.keras.push(await kerasRun(python, spec, 'float32'));
      row.siamface.push(await siamfaceRun(spec));
      if (opts.bf16) row.kerasBf16.push(await kerasRun(python, spec, 'mixed_bfloat16'));
      if (opts.tfjsAdam) row.tfjsAdam.push(await siamfaceRun({ ...spec, tfjsAdam: true }));
      console.error(`[keras-compare] ${size}px round ${r + 1}: keras ${row.keras.at(-1)!.imagesPerSec.toFixed(1)} img/s, siamface ${row.siamface.at(-1)!.imagesPerSec.toFixed(1)} img/s`);
    }
    rows.push(row);
  }
  const med = (ms: Measurement[], f: (m: Measurement) => number) => (ms.length ? median(ms.map(f)) : NaN);
  console.log(`Training step, DenseNet121 Siamese tower, ${opts.batch} pairs (${2 * Number(opts.batch)} images) per step, medians of ${opts.rounds} alternating runs of ${opts.steps} steps; ${os.cpus().length} CPUs (${os.cpus()[0]?.model})`);
  console.log(`- keras: ${rows[0]?.keras[0]?.framework}; siamface: ${rows[0]?.siamface[0]?.framework}`);
  const extra = [...(opts.bf16 ? ['Keras bf16 img/s'] : []), ...(opts.tfjsAdam ? ['siamface with tf.train.adam img/s'] : [])];
  console.log(`| size | Keras fp32 img/s | Keras peak RSS MiB | siamface img/s | siamface peak RSS MiB | siamface / Keras |${extra.map((e) => ` ${e} |`).join('')}`);
  console.log(`|---|---|---|---|---|---|${extra.map(() => '---|').join('')}`);
  for (const r of rows) {
    const k = med(r.keras, (m) => m.imagesPerSec);
    const s = med(r.siamface, (m) => m.imagesPerSec);
    const cells = [`${r.size} px`, k.toFixed(1), med(r.keras, (m) => m.peakRssMiB).toFixed(0), s.toFixed(1), med(r.siamface, (m) => m.peakRssMiB).toFixed(0), `**${(s / k).toFixed(2)}**`];
    if (opts.bf16) cells.push(med(r.kerasBf16, (m) => m.imagesPerSec).toFixed(1));
    if (opts.tfjsAdam) cells.push(med(r.tfjsAdam, (m) => m.imagesPerSec).toFixed(1));
    console.log(`| ${cells.join(' | ')} |`);
  }
  console.log(JSON.stringify({ bench: 'keras-compare', rows }));
}

if (process.argv[2] === '--child') runBench('keras-compare child', () => siamfaceChild(JSON.parse(process.argv[3]) as Spec));
else runBench('keras-compare', main);
