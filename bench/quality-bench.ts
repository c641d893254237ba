/**
 * Quality benchmark: trains each committed CPU config through the real pipeline (local stack: Temporal +
 * MinIO + both workers), evaluates every model with `siamface evaluate`'s workflow on three pair sets,
 * and prints one table, with face-api.js's own descriptor (its SSD detector, 68 landmarks, its
 * alignment, its ResNet-34) scored by the same metric code on the same pairs as the reference row.
 *
 *   node dist/bench/quality-bench.js [--configs baseline,faceres-pretrained,faceres,distill] [--sets lfw,celeba,faces-dev]
 *                                    [--max-pairs 0] [--no-faceapi] [--json out.json]
 *
 * Evaluation sets:
 *   lfw        lfw-train's identity-disjoint test split (the pairs the baseline's pipeline generated; no
 *              identity of it is in any config's train split: all configs share the split seed), as
 *              each model's card says (face-chip models detect and align, centre-crop models do not);
 *   celeba     celeba-wild's pairs.csv, faces detected and aligned (cross-dataset);
 *   faces-dev  faces-dev's pairs.csv, faces detected and aligned.
 * Training is idempotent: a config already trained on this stack is not trained again (its run is
 * reused), so a rerun only evaluates. Pairs whose images give no face (in any row's pipeline: face-api.js's
 * detector misses more of the tight LFW crops) are left out of every row, so all rows are measured on the
 * same pairs; the scored/pairs column says how many each row could score on its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import type { Client } from '@temporalio/client';
import { objectStoreFromEnv } from '../lib/storage/object-store';
import { buildPipelineInput } from '../cli/commands/pipeline';
import type { EvaluationSummary } from '../lib/eval/evaluate-model';
import { evaluationInputKey } from '../lib/eval/evaluation-layout';
import type { EvaluateModelInput } from '../workflows/evaluate-model';
import { buildEvalReport } from '../lib/eval/evaluate-pairs';
import { euclideanDistanceOf } from '../lib/model/distance';
import { csvField } from '../lib/data/csv';
import { parsePairsCsv } from '../lib/train/data-loader';
import type { ScoredPair } from '../lib/eval/types';
import { loadFaceModels } from '../lib/face/detector';
import { decodeRgb } from '../lib/face/image';
import { FACE_API_MODEL_DIR } from '../lib/model/face-api-weights';
import { everyKth } from './support/shared-photos';
import { BENCH_CONFIGS, CPU_QUEUE, ROOT, SHARED, benchModelOf, startLocalStack, trainBenchConfig, trainingSecondsOf } from './support/bench-pipeline';
import { evaluateModel } from '../workflows/evaluate-model';
import type { EvalReport } from '../lib/eval/types';


const SETS: Record<string, { detect: 'auto' | 'always'; what: string }> = {
  lfw: { detect: 'auto', what: "lfw-train test split (identity-disjoint)" },
  celeba: { detect: 'always', what: 'celeba-wild pairs, detected + aligned (cross-dataset)' },
  'faces-dev': { detect: 'always', what: 'faces-dev pairs, detected + aligned' },
};

interface SetMetrics {
  accuracy: number;
  accuracyStd: number;
  auc: number;
  eer: number;
  tar1e2: number;
  tar1e3: number;
  /** Pairs this row scored on its own, of all the set's pairs. */
  scored: number;
  rows: number;
}

interface Row {
  name: string;
  note: string;
  model?: { name: string; version: number };
  trainSec?: number;
  trainImagesPerSec?: number;
  pipelineSec?: number;
  sets: Record<string, SetMetrics | undefined>;
  /** Each set's scored pairs (distances), from which the metrics on the pairs every row scored are computed. */
  scoredPairs: Record<string, ScoredPair[]>;
}

const pairKey = (p: { a: string; b: string }) => `${p.a}\t${p.b}`;

/** The threshold-free metrics of scored pairs: 10-fold accuracy picks its thresholds on 9 folds. */
function metricsOf(scored: ScoredPair[], rows: number, scoredAlone: number): SetMetrics {
  const m = buildEvalReport(scored, scored).metrics;
  return { accuracy: m.kFoldAccuracy, accuracyStd: m.kFoldStd, auc: m.rocAuc, eer: m.eer, tar1e2: m.tarAtFar1e2, tar1e3: m.tarAtFar1e3, scored: scoredAlone, rows };
}

/** Re-measures every row of a set on the pairs all rows scored. */
function onCommonPairs(rows: Row[], set: string): number {
  const have = rows.filter((r) => r.scoredPairs[set]);
  const common = new Set(have[0]?.scoredPairs[set].map(pairKey) ?? []);
  for (const r of have.slice(1)) {
    const mine = new Set(r.scoredPairs[set].map(pairKey));
    for (const k of common) if (!mine.has(k)) common.delete(k);
  }
  if (have.length && common.size === 0) throw new Error(`${set}: the rows share no scored pair (do their pair names differ?)`);
  for (const r of have) {
    const own = r.sets[set]!;
    r.sets[set] = metricsOf(r.scoredPairs[set].filter((p) => common.has(pairKey(p))), own.rows, own.scored);
  }
  return common.size;
}

async function uploadPairs(set: string, lfwTestKey: string | undefined, maxPairs: number): Promise<{ input: string; baseUri: string }> {
  const store = objectStoreFromEnv();
  const folder = set === 'lfw' ? 'lfw-train' : set === 'celeba' ? 'celeba-wild' : 'faces-dev';
  let text = set === 'lfw' ? (await store.getBuffer(lfwTestKey!)).toString('utf8') : fs.readFileSync(path.join(SHARED, folder, 'pairs.csv'), 'utf8');
  if (maxPairs > 0) {
    const kept = everyKth(parsePairsCsv(text, folder), maxPairs);
    text = ['a,b,label', ...kept.map((p) => `${csvField(p.a)},${csvField(p.b)},${p.label}`)].join('\n') + '\n';
  }
  const key = evaluationInputKey(`quality-bench-${set}-${maxPairs || 'all'}`, 'csv');
  await store.putObject(key, text, { contentType: 'text/csv' });
  return { input: key, baseUri: path.join(SHARED, folder) };
}

async function evaluate(client: Client, model: { name: string; version: number }, set: string, pairs: { input: string; baseUri: string }): Promise<EvaluationSummary> {
  const args: EvaluateModelInput = { input: pairs.input, baseUri: pairs.baseUri, model, detect: SETS[set].detect, chunkSize: 100, concurrency: 2 };
  const handle = await client.workflow.start(evaluateModel, { taskQueue: CPU_QUEUE, workflowId: `quality-bench-eval-${model.name}-${model.version}-${set}-${Date.now()}`, args: [args] });
  return (await handle.result()) as EvaluationSummary;
}

/** face-api.js end to end on one image: its SSD detection, 68 landmarks, its aligned box and descriptor. */
async function faceApiDescriptor(file: string): Promise<Float32Array | null> {
  const rgb = await decodeRgb(fs.readFileSync(file), file);
  const t = tf.tensor3d(new Uint8Array(rgb.data), [rgb.height, rgb.width, 3], 'int32');
  try {
    const r = await faceapi.detectSingleFace(t as never, new faceapi.SsdMobilenetv1Options()).withFaceLandmarks().withFaceDescriptor();
    return r ? r.descriptor : null;
  } finally {
    t.dispose();
  }
}

async function faceApiRow(sets: string[], pairsOf: Record<string, { input: string; baseUri: string }>): Promise<Row> {
  await loadFaceModels();
  await faceapi.nets.faceRecognitionNet.loadFromDisk(FACE_API_MODEL_DIR);
  const store = objectStoreFromEnv();
  const row: Row = { name: 'face-api.js', note: "face-api.js's own pipeline and descriptor (reference)", sets: {}, scoredPairs: {} };
  for (const set of sets) {
    const pairs = parsePairsCsv((await store.getBuffer(pairsOf[set].input)).toString('utf8'), pairsOf[set].input);
    const cache = new Map<string, Float32Array | null>();
    const scored: ScoredPair[] = [];
    for (const { a, b, label } of pairs) {
      for (const p of [a, b]) if (!cache.has(p)) cache.set(p, await faceApiDescriptor(path.join(pairsOf[set].baseUri, p)));
      const ea = cache.get(a);
      const eb = cache.get(b);
      if (ea && eb) scored.push({ a, b, label, distance: euclideanDistanceOf(ea, eb) });
    }
    row.scoredPairs[set] = scored;
    row.sets[set] = metricsOf(scored, pairs.length, scored.length);
    console.error(`[quality-bench] face-api.js on ${set}: ${JSON.stringify(row.sets[set])}`);
  }
  return row;
}

const pct = (v: number | undefined) => (v === undefined ? '—' : `${(v * 100).toFixed(2)}`);

function table(rows: Row[], sets: string[]): string {
  const head = ['model', ...sets.flatMap((s) => [`${s} acc % (10-fold)`, `${s} AUC`, `${s} EER %`, `${s} TAR@1e-2 %`, `${s} TAR@1e-3 %`, `${s} scored/pairs`]), 'train wall s', 'train img/s'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = [
      r.name,
      ...sets.flatMap((s) => {
        const m = r.sets[s];
        return m ? [`${pct(m.accuracy)} ± ${pct(m.accuracyStd)}`, m.auc.toFixed(4), pct(m.eer), pct(m.tar1e2), pct(m.tar1e3), `${m.scored}/${m.rows}`] : ['—', '—', '—', '—', '—', '—'];
      }),
      r.trainSec !== undefined ? r.trainSec.toFixed(0) : '—',
      r.trainImagesPerSec !== undefined ? r.trainImagesPerSec.toFixed(1) : '—',
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--configs <list>', 'rows to train and evaluate', 'baseline,faceres-pretrained,faceres,distill')
    .option('--sets <list>', 'evaluation sets', 'lfw,celeba,faces-dev')
    .option('--max-pairs <n>', 'at most this many pairs per set (0 = all)', '0')
    .option('--no-faceapi', "skip face-api.js's reference row")
    .option('--json <file>', 'also write the rows as JSON')
    .option('--phase2-steps <list>', 'shorter runs than the committed configs, e.g. distill=1500 (the table says so)', '')
    .parse()
    .opts<{ configs: string; sets: string; maxPairs: string; faceapi: boolean; json?: string; phase2Steps: string }>();
  const stepsOf = new Map<string, number>();
  for (const item of opts.phase2Steps.split(',').filter(Boolean)) {
    const [name, value] = item.split('=');
    const steps = Number(value);
    if (!BENCH_CONFIGS[name] || !Number.isInteger(steps) || steps < 0) throw new Error(`--phase2-steps: expected <config>=<whole steps>, got "${item}"`);
    stepsOf.set(name, steps);
  }
  const configs = opts.configs.split(',');
  const sets = opts.sets.split(',');
  for (const c of configs) if (!BENCH_CONFIGS[c]) throw new Error(`unknown config ${c} (known: ${Object.keys(BENCH_CONFIGS).join(', ')})`);
  for (const s of sets) if (!SETS[s]) throw new Error(`unknown set ${s} (known: ${Object.keys(SETS).join(', ')})`);
  const { client, close } = await startLocalStack();
  const rows: Row[] = [];
  let lfwTestKey: string | undefined;
  const trained: Array<{ name: string; model: { name: string; version: number }; row: Row }> = [];
  // Train first (the baseline first: its test split is the lfw set), then evaluate everything.
  for (const name of ['baseline', ...configs.filter((c) => c !== 'baseline')]) {
    if (name !== 'baseline' && !configs.includes(name)) continue;
    console.error(`[quality-bench] pipeline ${name} (${BENCH_CONFIGS[name].file})`);
    const { result, status, seconds } = await trainBenchConfig(client, name, stepsOf.get(name));
    if (name === 'baseline') lfwTestKey = (status.outputs.pairs as { test: string }).test;
    const trainSec = (await trainingSecondsOf(objectStoreFromEnv(), result.runId)) ?? undefined;
    const batch = ((buildPipelineInput({ config: path.join(ROOT, BENCH_CONFIGS[name].file), queue: CPU_QUEUE }).training as { batchSize?: number })?.batchSize ?? 16) * 2;
    if (!configs.includes(name)) continue;
    const model = benchModelOf(name, result);
    const row: Row = {
      name: stepsOf.has(name) ? `${name} (${result.training.steps} steps)` : name,
      note: BENCH_CONFIGS[name].note,
      model,
      pipelineSec: seconds,
      trainSec,
      trainImagesPerSec: trainSec && result.training.steps ? (result.training.steps * batch) / trainSec : undefined,
      sets: {},
      scoredPairs: {},
    };
    rows.push(row);
    trained.push({ name, model, row });
  }
  const pairsOf: Record<string, { input: string; baseUri: string }> = {};
  for (const set of sets) pairsOf[set] = await uploadPairs(set, lfwTestKey, Number(opts.maxPairs));
  for (const { name, model, row } of trained) {
    for (const set of sets) {
      console.error(`[quality-bench] evaluate ${name} on ${set}`);
      const s = await evaluate(client, model, set, pairsOf[set]);
      row.scoredPairs[set] = (await objectStoreFromEnv().getJson<EvalReport>(s.reportKey)).distances.test;
      row.sets[set] = metricsOf(row.scoredPairs[set], s.rows, s.scored);
      console.error(`[quality-bench] ${name} on ${set}: ${JSON.stringify(row.sets[set])}`);
    }
  }
  await close();
  if (opts.faceapi) rows.push(await faceApiRow(sets, pairsOf));
  const common = Object.fromEntries(sets.map((set) => [set, onCommonPairs(rows, set)]));
  for (const set of sets) console.log(`- ${set}: ${SETS[set].what}; every row measured on the ${common[set]} pairs all rows scored`);
  for (const r of rows) console.log(`- ${r.name}: ${r.note}${r.model ? ` (${r.model.name} v${r.model.version})` : ''}`);
  console.log(table(rows, sets));
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(rows.map(({ scoredPairs: _, ...r }) => r), null, 2));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`quality-bench: ${err.stack}`);
    process.exit(1);
  },
);
