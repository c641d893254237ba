/**
 * Does fine-tuning the face-pretrained backbone improve on the weights it starts from, and why not?
 * Trains variants of `configs/lfw-cpu-faceres.json` (learning rate, loss, margin, head only, augmentation,
 * self-distillation) through the real pipeline on the local stack, each exporting its LAST weights (not the
 * best-on-validation ones, which would hide what training did), and prints their test metrics from the
 * pipeline's own evaluate stage, side by side with the untrained weights. All variants share the dataset,
 * split, shards and pairs, so the test pairs are the same: besides the metrics, each row counts the test pairs
 * it gets right that the untrained weights get wrong (fixed) and the reverse (broken), each at its own
 * validation-chosen threshold: a paired comparison, far less noisy than two accuracies.
 *
 *   node dist/bench/finetune-sweep.js [--variants pretrained,committed,...] [--json out.json]
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { Command } from 'commander';
import { objectStoreFromEnv } from '../lib/storage/object-store';
import type { EvalReport, ScoredPair } from '../lib/eval/types';
import { startLocalStack, trainBenchSpec, trainingSecondsOf, type BenchConfigSpec } from './support/bench-pipeline';

type Training = Record<string, any>;

const FACERES_CONFIG = 'configs/lfw-cpu-faceres.json';

/** Each variant edits the committed config's `training`; every one exports its last weights. */
const VARIANTS: Record<string, { note: string; edit: (t: Training) => void }> = {
  pretrained: {
    note: 'no training: the weights fine-tuning starts from',
    edit: (t) => {
      t.phase1 = { steps: 0, lr: 1e-3 };
      t.phase2 = { steps: 0, lr: 1e-5 };
    },
  },
  committed: { note: 'the committed config: ArcFace (s 64, m 0.5), all layers, lr 1e-5, 300 steps', edit: () => {} },
  'lr-3e-5': { note: 'committed, lr 3e-5', edit: (t) => (t.phase2 = { ...t.phase2, lr: 3e-5 }) },
  'lr-3e-6': { note: 'committed, lr 3e-6', edit: (t) => (t.phase2 = { ...t.phase2, lr: 3e-6 }) },
  'no-jitter': { note: 'committed, no scale jitter (the chips stay exactly aligned; flips and colour kept)', edit: (t) => (t.augment = { scaleJitter: 0 }) },
  cosface: { note: 'CosFace (s 64, m 0.35) instead of ArcFace', edit: (t) => (t.loss = { kind: 'cosface', centres: 'class-mean' }) },
  'arcface-s32-m0.2': { note: 'ArcFace with a gentler scale and margin (s 32, m 0.2)', edit: (t) => (t.loss = { kind: 'arcface', scale: 32, margin: 0.2, centres: 'class-mean' }) },
  contrastive: { note: 'the contrastive pair loss instead of a margin loss, lr 1e-5', edit: (t) => (t.loss = 'contrastive') },
  'head-only': {
    note: 'backbone frozen: ArcFace trains the linear head (a learned metric on the descriptor), lr 1e-3, 300 steps',
    edit: (t) => {
      t.phase1 = { steps: 300, lr: 1e-3 };
      t.phase2 = { steps: 0, lr: 1e-5 };
    },
  },
  'self-distill': {
    note: 'committed plus distillation from the untrained weights (weight 1): fine-tuning that must stay near what it knew',
    edit: (t) => (t.teacher = { backbone: 'faceres34', weight: 1 }),
  },
  'longer-1000': { note: 'committed, 1,000 steps', edit: (t) => (t.phase2 = { ...t.phase2, steps: 1000 }) },
};

interface Row {
  variant: string;
  note: string;
  steps: number;
  trainSec: number | null;
  valAuc: number;
  test: EvalReport['metrics'];
  fixed: number;
  broken: number;
}

/** Test pairs a report's model gets right at its own validation-chosen threshold, by pair. */
function correctness(report: EvalReport): Map<string, boolean> {
  const t = report.threshold.value;
  return new Map(report.distances.test.map((p: ScoredPair) => [`${p.a}\t${p.b}`, (p.distance <= t) === (p.label === 1)]));
}

const pct = (v: number) => (v * 100).toFixed(2);

async function main(): Promise<void> {
  const opts = new Command()
    .option('--variants <list>', 'variants to train and compare', Object.keys(VARIANTS).join(','))
    .option('--json <file>', 'also write the rows as JSON')
    .parse()
    .opts<{ variants: string; json?: string }>();
  const names = ['pretrained', ...opts.variants.split(',').filter((v) => v !== 'pretrained')];
  for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown variant ${n} (known: ${Object.keys(VARIANTS).join(', ')})`);
  const { client, close } = await startLocalStack();
  const store = objectStoreFromEnv();
  const rows: Row[] = [];
  let base: Map<string, boolean> | null = null;
  for (const name of names) {
    const variant = VARIANTS[name];
    const spec: BenchConfigSpec = {
      file: FACERES_CONFIG,
      note: variant.note,
      edit: (c) => {
        variant.edit(c.training);
        c.training.finalWeights = 'last';
      },
    };
    console.error(`[finetune-sweep] ${name}: ${variant.note}`);
    const { result } = await trainBenchSpec(client, `sweep-${name}`, spec);
    const report = await store.getJson<EvalReport>(result.evalReportKey);
    const mine = correctness(report);
    base ??= mine;
    let fixed = 0;
    let broken = 0;
    for (const [pair, ok] of mine) {
      const before = base.get(pair);
      if (before === undefined) throw new Error(`${name}: test pair ${pair} is not among the untrained model's (the variants must share their test pairs)`);
      if (ok && !before) fixed++;
      if (!ok && before) broken++;
    }
    const row: Row = {
      variant: name,
      note: variant.note,
      steps: result.training.steps,
      trainSec: await trainingSecondsOf(store, result.runId),
      valAuc: report.val.rocAuc,
      test: report.metrics,
      fixed,
      broken,
    };
    rows.push(row);
    console.error(`[finetune-sweep] ${name}: ${JSON.stringify({ valAuc: row.valAuc, ...row.test, fixed, broken })}`);
  }
  await close();
  const pairs = base?.size ?? 0;
  console.log(`${pairs} test pairs of lfw-train's identity-disjoint test split; fixed/broken: test pairs right/wrong that the untrained weights got wrong/right`);
  console.log('| variant | steps | train s | val AUC | test AUC | test acc % (10-fold) | acc % at val threshold | EER % | TAR@1e-2 % | TAR@1e-3 % | fixed | broken |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const t = r.test;
    console.log(
      `| ${r.variant} | ${r.steps} | ${r.trainSec?.toFixed(0) ?? '—'} | ${r.valAuc.toFixed(5)} | ${t.rocAuc.toFixed(5)} | ${pct(t.kFoldAccuracy)} ± ${pct(t.kFoldStd)} | ${pct(t.accuracy)} | ${pct(t.eer)} | ${pct(t.tarAtFar1e2)} | ${pct(t.tarAtFar1e3)} | ${r.fixed} | ${r.broken} |`,
    );
  }
  for (const r of rows) console.log(`- ${r.variant}: ${r.note}`);
  if (opts.json) fs.writeFileSync(path.resolve(opts.json), JSON.stringify(rows, null, 2));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`finetune-sweep: ${err.stack}`);
    process.exit(1);
  },
);
