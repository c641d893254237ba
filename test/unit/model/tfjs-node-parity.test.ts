/**
 * tfjs-node (native libtensorflow, provided offline by infra/setup-tfjs-node.sh) must compute what
 * the reference pure-JS cpu backend computes: same forward embeddings, same losses and same
 * weights after a few training steps of a small DenseNet tower with a contrastive loss.
 * Skipped, with the reason printed, where tfjs-node does not load.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { registerNativeTrainingKernels, useNativeBatchNormTraining } from '../../../lib/model/native-kernels';
import { seededRng } from '../../support/seeded-rng';

function tfjsNodeUnavailable(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-node');
    if (!tf.findBackendFactory('tensorflow')) return "@tensorflow/tfjs-node loaded but registered no 'tensorflow' backend on this tfjs";
    return undefined;
  } catch (err) {
    return `@tensorflow/tfjs-node does not load (run 'bash infra/setup-tfjs-node.sh'): ${String(err instanceof Error ? err.message : err).split('\n')[0]}`;
  }
}

const skipReason = tfjsNodeUnavailable();
if (skipReason) console.log(`tfjs-node parity skipped: ${skipReason}`);

const SIZE = 16;
const PAIRS = 4;
const STEPS = 2;
const LR = 0.01;
const MARGIN = 1;
// A DenseNet through the same code as DenseNet121, small enough for the cpu backend to train.
const TINY = { inputSize: SIZE, blocks: [2, 2], growthRate: 8, headUnits: [16, 16] as [number, number], embeddingDim: 8 };

interface Arrays {
  shape: number[];
  values: Float32Array;
}
interface RunResult {
  embeddings: Float32Array;
  losses: number[];
  weights: Arrays[];
}

function contrastiveLoss(ea: tf.Tensor, eb: tf.Tensor, same: tf.Tensor): tf.Scalar {
  const d = tf.sqrt(tf.add(tf.sum(tf.square(tf.sub(ea, eb)), 1), 1e-9));
  const pull = tf.mul(same, tf.square(d));
  const push = tf.mul(tf.sub(1, same), tf.square(tf.relu(tf.sub(MARGIN, d))));
  return tf.mean(tf.add(pull, push));
}

/** Builds the tower with the given initial weights on `backend`, then trains STEPS SGD steps. */
async function runOn(backend: string, init: Arrays[], a: Arrays, b: Arrays, same: number[], nativeBatchNorm = false): Promise<RunResult> {
  assert.ok(await tf.setBackend(backend), `tf.setBackend('${backend}') failed`);
  const model = buildEmbeddingTower(TINY, { seed: 12 });
  if (nativeBatchNorm) assert.ok(useNativeBatchNormTraining(model) > 0, 'no batch-norm layer switched to the native path');
  model.setWeights(init.map((w) => tf.tensor(w.values, w.shape)));
  const xa = tf.tensor4d(a.values, a.shape as [number, number, number, number]);
  const xb = tf.tensor4d(b.values, b.shape as [number, number, number, number]);
  const y = tf.tensor1d(same);
  const embeddings = tf.tidy(() => model.predict(xa) as tf.Tensor).dataSync() as Float32Array;
  const optimizer = tf.train.sgd(LR);
  const losses: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const loss = optimizer.minimize(
      () => contrastiveLoss(model.apply(xa, { training: true }) as tf.Tensor, model.apply(xb, { training: true }) as tf.Tensor, y),
      true,
    ) as tf.Scalar;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
  }
  const weights = model.getWeights().map((w) => ({ shape: w.shape, values: w.dataSync() as Float32Array }));
  optimizer.dispose();
  tf.dispose([xa, xb, y]);
  model.dispose();
  return { embeddings: Float32Array.from(embeddings), losses, weights };
}

function maxAbsDiff(x: Float32Array, y: Float32Array): number {
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

describe('tfjs-node parity with the cpu backend', { skip: skipReason }, () => {
  it('gives the same embeddings, losses and trained weights for a small DenseNet tower', async () => {
    await tf.setBackend('cpu');
    // Seeded initial weights (Glorot-uniform kernels, near-identity batch norms): a fixed case,
    // not whatever Math.random gave the layer initialisers this run.
    const r = seededRng(42);
    const template = buildEmbeddingTower(TINY, { seed: 13 });
    const init: Arrays[] = template.weights.map((w) => {
      const shape = w.shape as number[];
      const n = shape.reduce((p, d) => p * d, 1);
      const values = new Float32Array(n);
      if (shape.length >= 2) {
        const fanOut = shape[shape.length - 1];
        const fanIn = n / fanOut;
        const limit = Math.sqrt(6 / (fanIn + fanOut));
        for (let i = 0; i < n; i++) values[i] = (r() * 2 - 1) * limit;
      } else {
        const base = /gamma|variance/.test(w.name) ? 1 : 0;
        for (let i = 0; i < n; i++) values[i] = base + (r() - 0.5) * 0.2;
      }
      return { shape, values };
    });
    template.dispose();
    const image = (): Arrays => {
      const values = new Float32Array(PAIRS * SIZE * SIZE * 3);
      for (let i = 0; i < values.length; i++) values[i] = r() * 2 - 1;
      return { shape: [PAIRS, SIZE, SIZE, 3], values };
    };
    const a = image();
    const b = image();
    const same = Array.from({ length: PAIRS }, (_, i) => i % 2);

    const cpu = await runOn('cpu', init, a, b, same);
    const tfjsGradients = await runOn('tensorflow', init, a, b, same);
    // Then with TensorFlow's fused ReluGrad / FusedBatchNormGrad swapped in (lib/model/native-kernels).
    registerNativeTrainingKernels();
    const nativeGradients = await runOn('tensorflow', init, a, b, same);
    // And with training-mode batch norm as one fused TensorFlow op (useNativeBatchNormTraining).
    const nativeBatchNorm = await runOn('tensorflow', init, a, b, same, true);
    assert.equal(tf.getBackend(), 'tensorflow');

    const runs = [['tfjs gradients', tfjsGradients], ['native gradients', nativeGradients], ['native batch norm', nativeBatchNorm]] as const;
    for (const [label, native] of runs) {
      // Forward: unit embeddings agree to float32 round-off (oneDNN sums in another order).
      const embDiff = maxAbsDiff(cpu.embeddings, native.embeddings);
      assert.ok(embDiff < 1e-4, `${label}: embeddings differ by ${embDiff}`);
      for (let s = 0; s < STEPS; s++) {
        const rel = Math.abs(cpu.losses[s] - native.losses[s]) / Math.max(1e-6, Math.abs(cpu.losses[s]));
        assert.ok(rel < 1e-3, `${label}, step ${s}: loss cpu ${cpu.losses[s]} vs tfjs-node ${native.losses[s]} (rel ${rel})`);
      }
      assert.ok(Number.isFinite(cpu.losses[STEPS - 1]));

      // After training, every weight (and batch-norm moving statistic) agrees; training must have
      // moved the weights far more than that tolerance, or the comparison would prove nothing.
      let worst = 0;
      let moved = 0;
      cpu.weights.forEach((w, i) => {
        assert.deepEqual(native.weights[i].shape, w.shape);
        const scale = Math.max(1, ...Array.from(w.values, Math.abs));
        worst = Math.max(worst, maxAbsDiff(w.values, native.weights[i].values) / scale);
        moved = Math.max(moved, maxAbsDiff(w.values, init[i].values));
      });
      console.log(`tfjs-node (${label}) vs cpu: embeddings ${embDiff.toExponential(1)}, losses ${cpu.losses.join(' ')} vs ${native.losses.join(' ')}, weights ${worst.toExponential(1)} (moved ${moved.toExponential(1)})`);
      assert.ok(moved > 1e-3, `${label}: training barely moved the weights (max change ${moved})`);
      assert.ok(worst < 1e-4 || worst < moved / 1000, `${label}: trained weights differ by ${worst} (relative to each tensor's largest value) for a training change of ${moved}`);
    }
  });
});
