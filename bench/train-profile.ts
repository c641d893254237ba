/**
 * Where a training step's time goes on tfjs-node: the DenseNet121 Siamese tower's step (as keras-compare runs it:
 * fixed random inputs, contrastive loss, Adam, fused native gradients) timed plain, then once under tf.profile,
 * which times every kernel's native execution. The step's wall time splits into
 *   - kernel time: TensorFlow executing the ops (each op is one eager TFE_Execute call), by kernel;
 *   - the rest: JavaScript around them (tfjs's engine, the autodiff tape, tensor bookkeeping, the binding), i.e.
 *     what driving TensorFlow op by op costs compared with one compiled graph (Keras's tf.function).
 *
 *   node dist/bench/train-profile.js [--size 64] [--batch 16] [--steps 5] [--top 20]
 */
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { buildEmbeddingTower } from '../lib/model/tower';
import { selectBackend } from '../lib/model/backend';
import { registerNativeTrainingKernels, useNativeBatchNormTraining } from '../lib/model/native-kernels';
import { FlatAdamOptimizer } from '../lib/train/flat-adam';
import { contrastiveObjective, setLearningRate, trainStep, trainableVariables } from '../lib/train/siamese-step';
import { median } from './support/stats';
import { runBench } from './support/run-bench';

async function main(): Promise<void> {
  const o = new Command()
    .option('--size <n>', 'input size', '64')
    .option('--batch <n>', 'pairs per step', '16')
    .option('--steps <n>', 'plain steps timed (after 2 warm-up steps)', '5')
    .option('--top <n>', 'kernels listed', '20')
    .parse()
    .opts<{ size: string; batch: string; steps: string; top: string }>();
  const size = Number(o.size);
  const batch = Number(o.batch);
  const sel = await selectBackend('tensorflow', { log: () => undefined });
  if (!sel.native) throw new Error(`tfjs-node is not available here (${sel.detail})`);
  const model = buildEmbeddingTower({ inputSize: size }, { seed: 1 });
  registerNativeTrainingKernels();
  useNativeBatchNormTraining(model);
  const images = tf.randomNormal([2 * batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 2), 'float32');
  const opt = new FlatAdamOptimizer(1e-4);
  const { variables } = trainableVariables(model);
  const step = () => {
    setLearningRate(opt, 1e-4);
    return trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1.0));
  };
  for (let i = 0; i < 2; i++) step();
  const wall: number[] = [];
  for (let i = 0; i < Number(o.steps); i++) {
    const t0 = performance.now();
    step();
    wall.push(performance.now() - t0);
  }
  const t0 = performance.now();
  const info = await tf.profile(() => {
    step();
    return [];
  });
  const profiledWall = performance.now() - t0;
  const byKernel = new Map<string, { count: number; ms: number }>();
  let kernelMs = 0;
  // tf.profile also lists the scopes of custom-gradient ops ('fusedConv2d__op', 'unnamed scope') around their kernels: count kernels only.
  const kernels = info.kernels.filter((k) => tf.getKernel(k.name, tf.getBackend()) !== undefined);
  for (const k of kernels) {
    const ms = k.kernelTimeMs as number;
    kernelMs += ms;
    const e = byKernel.get(k.name) ?? { count: 0, ms: 0 };
    e.count++;
    e.ms += ms;
    byKernel.set(k.name, e);
  }
  const stepMs = median(wall);
  console.log(`DenseNet121 Siamese tower, ${size} px, ${batch} pairs (${2 * batch} images) per step, ${sel.detail}`);
  console.log(`plain step: ${stepMs.toFixed(0)} ms median of ${wall.length} (${((2 * batch) / (stepMs / 1000)).toFixed(1)} img/s)`);
  console.log(`profiled step: ${profiledWall.toFixed(0)} ms, ${kernels.length} kernel calls, kernel time ${kernelMs.toFixed(0)} ms`);
  console.log(`  => kernels ${((100 * kernelMs) / stepMs).toFixed(0)}% of the plain step; JavaScript and dispatch around them ~${Math.max(0, stepMs - kernelMs).toFixed(0)} ms (${((1000 * Math.max(0, stepMs - kernelMs)) / kernels.length).toFixed(0)} µs per call)`);
  console.log('| kernel | calls | ms | % of kernel time |');
  console.log('|---|---|---|---|');
  for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(o.top))) {
    console.log(`| ${name} | ${e.count} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / kernelMs).toFixed(1)} |`);
  }
  console.log(JSON.stringify({ bench: 'train-profile', size, batch, stepMs, profiledWall, kernelCalls: kernels.length, kernelMs, peakBytes: info.peakBytes, byKernel: Object.fromEntries(byKernel) }));
}

runBench('train-profile', main);
