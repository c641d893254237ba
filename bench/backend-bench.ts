/**
 * Backend benchmark: training and inference images/s and peak RSS of the full DenseNet121 tower
 * (lib/model: DenseNet121 + dense head + L2, contrastive loss, Adam) on tfjs-node (native
 * libtensorflow) vs wasm, at several input sizes. Each measurement runs in its own process so
 * peak RSS is its own and a wasm out-of-memory or a time-out cannot take the others down.
 *
 *   node dist/bench/backend-bench.js [--backends tensorflow,wasm] [--sizes 64,112,160]
 *       [--pairs 16] [--wasm-pairs 8] [--infer-batch 32] [--steps 2] [--repeats 3] [--budget-s 300]
 *
 * Threads of tfjs-node come from TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS (TensorFlow
 * reads them itself); wasm runs one thread in Node. Images are random: speed does not depend on
 * pixel values. The first step (kernel selection, allocation) is timed separately as warm-up.
 */
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { buildEmbeddingTower } from '../lib/model/tower';
import { contrastiveLoss } from '../lib/model/losses';
import { euclideanDistance } from '../lib/model/distance';
import { selectBackend } from '../lib/model/backend';
import { registerNativeTrainingKernels, useNativeBatchNormTraining } from '../lib/model/native-kernels';
import { median } from './support/stats';

type Mode = 'train' | 'infer';

interface ChildArgs {
  backend: string;
  mode: Mode;
  size: number;
  /** Pairs per training step (2x images), or images per inference batch. */
  batch: number;
  steps: number;
  repeats: number;
  budgetS: number;
  /** tfjs-node: use TensorFlow's fused ReluGrad/FusedBatchNormGrad (lib/model/native-kernels). */
  nativeGrads: boolean;
  /** tfjs-node: training-mode batch norm as fused TensorFlow ops (useNativeBatchNormTraining). */
  nativeBn: boolean;
}

interface Measurement {
  backend: string;
  mode: Mode;
  size: number;
  batch: number;
  detail?: string;
  warmupS?: number;
  /** images/s of each timed repeat (wall clock). */
  rates: number[];
  /** images per CPU-second (user + system, all threads) of each repeat: less sensitive than
   * wall-clock rates to other processes sharing the cores. */
  cpuRates: number[];
  peakRssMb?: number;
  /** Why it stopped early or failed. */
  note?: string;
}

const RESULT_PREFIX = 'BENCH_RESULT ';

/** Runs in the child: one backend, one size, one mode. */
async function measure(a: ChildArgs): Promise<Measurement> {
  const deadline = Date.now() + a.budgetS * 1000;
  const out: Measurement = { backend: a.backend, mode: a.mode, size: a.size, batch: a.batch, rates: [], cpuRates: [] };
  const sel = await selectBackend(a.backend as 'tensorflow' | 'wasm', { log: () => undefined });
  out.detail = sel.detail;
  if (sel.backend !== a.backend) {
    out.note = `asked for ${a.backend}, got ${sel.backend} (${sel.attempts.map((x) => `${x.candidate}: ${x.error}`).join('; ')})`;
    return out;
  }
  if (a.backend === 'tensorflow' && a.nativeGrads) out.detail += `; native gradients: ${registerNativeTrainingKernels().join(', ') || 'already registered'}`;
  const model = buildEmbeddingTower({ inputSize: a.size }, { seed: 1 });
  if (a.backend === 'tensorflow' && a.nativeBn) out.detail += `; native batch norm in ${useNativeBatchNormTraining(model)} layers`;
  const images = a.mode === 'train' ? 2 * a.batch : a.batch;
  const x = tf.randomUniform([images, a.size, a.size, 3], -2, 2) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: a.batch }, (_, i) => i % 2));
  const optimizer = tf.train.adam(1e-4);

  // Same shape of work as lib/train's step: both images of every pair in one tower call.
  const step = (): void => {
    if (a.mode === 'infer') {
      tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync());
      return;
    }
    const loss = optimizer.minimize(() => {
      const emb = model.apply(x, { training: true }) as tf.Tensor2D;
      const [ea, eb] = tf.split(emb, 2, 0) as [tf.Tensor2D, tf.Tensor2D];
      return contrastiveLoss(labels, euclideanDistance(ea, eb));
    }, true);
    if (!loss) throw new Error('optimizer returned no loss');
    loss.dataSync();
    loss.dispose();
  };

  let t = Date.now();
  step();
  out.warmupS = (Date.now() - t) / 1000;
  for (let r = 0; r < a.repeats; r++) {
    // A repeat that would overrun the budget (judged by the last one) is not started.
    const lastS = r === 0 ? out.warmupS : (a.steps * images) / out.rates[r - 1];
    if (Date.now() + lastS * 1000 * (r === 0 ? a.steps : 1) > deadline) {
      out.note = `stopped after ${r} of ${a.repeats} repeats: budget ${a.budgetS} s`;
      break;
    }
    t = Date.now();
    const cpu0 = process.cpuUsage();
    for (let s = 0; s < a.steps; s++) step();
    out.rates.push((a.steps * images) / ((Date.now() - t) / 1000));
    const cpu = process.cpuUsage(cpu0);
    out.cpuRates.push((a.steps * images) / ((cpu.user + cpu.system) / 1e6));
  }
  out.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  return out;
}

/** Runs one measurement in a fresh node process; kills it past the budget plus a margin. */
function runChild(a: ChildArgs): Promise<Measurement> {
  return new Promise((resolve) => {
    const args = [__filename, '--child', JSON.stringify(a)];
    const child = spawn(process.execPath, args, { env: { TF_CPP_MIN_LOG_LEVEL: '2', ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), (a.budgetS + 120) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (line) return resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as Measurement);
      const why = signal === 'SIGKILL' ? `killed after ${a.budgetS + 120} s` : `exit ${code ?? signal}`;
      const tail = stderr.trim().split('\n').filter((l) => /error|Error|abort|memory/i.test(l)).slice(-2).join(' | ').slice(0, 300);
      resolve({ backend: a.backend, mode: a.mode, size: a.size, batch: a.batch, rates: [], cpuRates: [], note: `failed (${why})${tail ? `: ${tail}` : ''}` });
    });
  });
}

function row(m: Measurement): string {
  const rate = m.rates.length ? median(m.rates).toFixed(1) : '-';
  const all = m.rates.map((r) => r.toFixed(1)).join('/');
  const batch = m.mode === 'train' ? `${m.batch} pairs` : `${m.batch} img`;
  const perCpu = m.cpuRates.length ? median(m.cpuRates).toFixed(1) : '-';
  return [m.backend.padEnd(10), m.mode.padEnd(5), `${m.size}px`.padEnd(6), batch.padEnd(9), rate.padStart(7), (all || '-').padEnd(20), perCpu.padStart(9),
    (m.warmupS !== undefined ? m.warmupS.toFixed(1) : '-').padStart(7), (m.peakRssMb !== undefined ? String(m.peakRssMb) : '-').padStart(8), m.note ?? ''].join(' ');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const result = await measure(JSON.parse(process.argv[3]) as ChildArgs);
    process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
    process.exit(0);
  }
  const opts = new Command()
    .option('--backends <list>', 'backends to compare', 'tensorflow,wasm')
    .option('--sizes <list>', 'input sizes in pixels', '64,112,160')
    .option('--modes <list>', 'train, infer or both', 'train,infer')
    .option('--pairs <n>', 'pairs per training step (tfjs-node)', '16')
    .option('--wasm-pairs <n>', 'pairs per training step (wasm)', '8')
    .option('--infer-batch <n>', 'images per inference batch', '32')
    .option('--steps <n>', 'steps per timed repeat', '2')
    .option('--repeats <n>', 'timed repeats (the median is reported)', '3')
    .option('--no-native-grads', "tfjs-node: keep tfjs's own Relu/batch-norm gradients")
    .option('--no-native-bn', "tfjs-node: keep tfjs-layers' own training-mode batch norm")
    .option('--budget-s <s>', 'time budget per measurement (warm-up included)', '300')
    .parse()
    .opts();
  const list = (s: string): string[] => s.split(',').map((v) => v.trim()).filter(Boolean);
  console.log(`threads: TF_NUM_INTRAOP_THREADS=${process.env.TF_NUM_INTRAOP_THREADS ?? '(default)'} TF_NUM_INTEROP_THREADS=${process.env.TF_NUM_INTEROP_THREADS ?? '(default)'}`);
  console.log(['backend'.padEnd(10), 'mode'.padEnd(5), 'size'.padEnd(6), 'batch'.padEnd(9), 'img/s'.padStart(7), 'repeats'.padEnd(20), 'img/cpu-s'.padStart(9), 'warmup'.padStart(7), 'peakMB'.padStart(8), 'note'].join(' '));
  const results: Measurement[] = [];
  for (const mode of list(opts.modes) as Mode[]) {
    for (const size of list(opts.sizes).map(Number)) {
      for (const backend of list(opts.backends)) {
        const batch = mode === 'infer' ? Number(opts.inferBatch) : Number(backend === 'wasm' ? opts.wasmPairs : opts.pairs);
        const m = await runChild({ backend, mode, size, batch, steps: Number(opts.steps), repeats: Number(opts.repeats), budgetS: Number(opts.budgetS), nativeGrads: Boolean(opts.nativeGrads), nativeBn: Boolean(opts.nativeBn) });
        results.push(m);
        console.log(row(m));
      }
    }
  }
  console.log(JSON.stringify({ bench: 'backend', results: results.map((m) => ({ ...m, median: m.rates.length ? median(m.rates) : null, cpuMedian: m.cpuRates.length ? median(m.cpuRates) : null })) }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
