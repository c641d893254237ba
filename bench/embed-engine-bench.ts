/**
 * Embedding throughput of the full tower (DenseNet121 + head, random weights) on onnxruntime vs
 * tfjs, plus ONNX export time and size, and the max abs difference between the two.
 * Usage: node dist/bench/embed-engine-bench.js [--size 112] [--batch 16] [--runs 5] [--threads N] [--onnx-only]
 * --onnx-only skips the tfjs run (and the diff), e.g. to time ONNX Runtime's CUDA provider with
 * SIAMFACE_TF_BACKEND=cpu, so no other CUDA stack shares the process.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../lib/model/backend';
import { buildEmbeddingTower } from '../lib/model/tower';
import { exportToOnnx } from '../lib/infer/onnx-export';
import { OnnxEngine, TfjsEngine, type EmbeddingEngine } from '../lib/infer/engine';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function imagesPerSecond(engine: EmbeddingEngine, batch: Float32Array, n: number, runs: number): Promise<{ median: number; out: Float32Array[] }> {
  let out = await engine.embed(batch, n); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    out = await engine.embed(batch, n);
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return { median: rates[rates.length >> 1], out };
}

async function main(): Promise<void> {
  const size = arg('size', 112);
  const n = arg('batch', 16);
  const runs = arg('runs', 5);
  const threads = process.argv.includes('--threads') ? arg('threads', 2) : undefined;
  const onnxOnly = process.argv.includes('--onnx-only');
  await selectBackend('auto', { log: () => {} });
  const model = buildEmbeddingTower({ inputSize: size }, { seed: 1 });
  const t0 = performance.now();
  const bytes = exportToOnnx(model);
  const exportMs = performance.now() - t0;
  const onnx = await OnnxEngine.create(bytes, { threads, log: () => {} });
  const ref = new TfjsEngine(model);
  const batch = tf.tidy(() => tf.randomNormal([n, size, size, 3], 0, 1, 'float32', 1).dataSync() as Float32Array);
  const o = await imagesPerSecond(onnx, batch, n, runs);
  const t = onnxOnly ? undefined : await imagesPerSecond(ref, batch, n, runs);
  let maxDiff: number | null = t ? 0 : null;
  if (t) o.out.forEach((v, i) => v.forEach((x, j) => (maxDiff = Math.max(maxDiff ?? 0, Math.abs(x - t.out[i][j])))));
  console.log(
    JSON.stringify({
      size,
      batch: n,
      runs,
      onnx: { engine: onnx.describe(), imagesPerSecond: +o.median.toFixed(1) },
      tfjs: t ? { engine: ref.describe(), imagesPerSecond: +t.median.toFixed(1) } : null,
      exportMs: Math.round(exportMs),
      onnxMiB: +(bytes.length / 2 ** 20).toFixed(1),
      maxAbsDiff: maxDiff,
    }),
  );
  await onnx.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
