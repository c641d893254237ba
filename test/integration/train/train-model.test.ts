/**
 * trainModel in-process against real MinIO on a tiny real dataset: a full run (validation,
 * checkpoints, export, sidecar), cancellation that checkpoints and a resume that ends bit-identical
 * to an uninterrupted run, and a stop request that exports the best weights.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useStack, type TestStack } from '../../support/stack';
import { loadModelFromStore } from '../../../lib/model/io';
import { localRunContext, type Progress } from '../../../lib/progress';
import { trainModel, type SiamfaceModelJson, type TrainModelInput, type TrainModelResult } from '../../../lib/train/train-model';
import { CHECKPOINT_WEIGHTS, latestCompleteCheckpoint, newestVerifiedCheckpoint } from '../../../lib/train/checkpoint';
import { checkpointsPrefix, runJsonKey, stopRequestKey } from '../../../lib/train/run-layout';
import type { TrainConfigInput } from '../../../lib/train/config';
import { TINY_TRAIN_CONFIG, writeTinyLfwDataset, type TinyDataset } from './lfw-shards';

let stack: TestStack;
let data: TinyDataset;

before(async () => {
  stack = await useStack('train-model');
  data = await writeTinyLfwDataset(stack.store, { datasetId: 'tiny', imageSize: 40, trainIdentities: 6, valIdentities: 3, imagesPerIdentity: 5, shardSize: 12, trainPairs: 40, valPairs: 12 });
});
after(async () => stack?.close());

const input = (runId: string, config: TrainConfigInput = {}): TrainModelInput => ({
  runId,
  datasetId: data.datasetId,
  manifestKey: data.manifestKey,
  pairsKeys: data.pairsKeys,
  config: { ...TINY_TRAIN_CONFIG, ...config },
});

test('a full run validates each epoch, keeps K checkpoints and exports a loadable model with its sidecar', async () => {
  const reports: Progress[] = [];
  const result = await trainModel(stack.store, input('full'), localRunContext({ onReport: (p) => reports.push(p) }));
  assert.equal(result.steps, 12);
  assert.equal(result.totalSteps, 12);
  assert.equal(result.epochs, 3);
  assert.equal(result.stoppedEarly, false);
  assert.equal(result.resumedFromStep, undefined);
  assert.equal(result.backend, tf.getBackend(), 'the backend in use (wasm unless SIAMFACE_TF_BACKEND overrides)');
  assert.ok(result.bestValAuc !== null && result.bestValAuc >= 0 && result.bestValAuc <= 1, `best AUC ${result.bestValAuc}`);
  assert.equal(result.exported.weights, 'best');
  assert.equal(result.exported.step, result.bestStep);
  assert.ok(Number.isFinite(result.finalMetrics.loss!));

  const steps = reports.map((r) => r.step as number);
  assert.deepEqual([...new Set(steps)].sort((a, b) => a - b), Array.from({ length: 13 }, (_, i) => i), 'a report for every step');
  const last = reports.at(-1)!;
  assert.equal(last.status, 'completed');
  assert.ok(reports.some((r) => typeof r.imagesPerSec === 'number' && (r.imagesPerSec as number) > 0 && typeof r.etaSec === 'number'));
  assert.ok(reports.some((r) => r.phase === 1) && reports.some((r) => r.phase === 2));
  assert.ok(reports.some((r) => typeof r.valAuc === 'number'));

  const ckpts = [...new Set((await stack.store.listAll(checkpointsPrefix('full'))).map((o) => o.key.split('/')[3]))].filter((n) => n.startsWith('ckpt-'));
  assert.equal(ckpts.length, 2, `kept ${ckpts}`);
  assert.equal((await latestCompleteCheckpoint(stack.store, 'full'))?.meta.step, 12);

  const sidecar = await stack.store.getJson<SiamfaceModelJson>(`${result.modelKey}siamface-model.json`);
  assert.equal(sidecar.preprocessing.inputSize, 32);
  assert.deepEqual(sidecar.model.blocks, [1, 1]);
  assert.equal(sidecar.backend.backend, result.backend);
  assert.equal(sidecar.result.steps, 12);
  const run = await stack.store.getJson<{ status: string; attempts: unknown[] }>(runJsonKey('full'));
  assert.equal(run.status, 'completed');
  assert.equal(run.attempts.length, 1);

  const model = await loadModelFromStore(stack.store, result.modelKey);
  const out = model.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor;
  assert.deepEqual(out.shape, [2, 8]);
  tf.dispose(out);
  model.dispose();

  // Asking again returns the exported result without training.
  const again = await trainModel(stack.store, input('full'), localRunContext());
  assert.deepEqual(again, result);
});

const RESUME_CONFIG = { finalWeights: 'last' as const, checkpointEverySteps: 100 };
let referenceRun: Promise<TrainModelResult> | undefined;
/** An uninterrupted run that resumed runs must end bit-identical to (trained once, shared). */
const reference = () => (referenceRun ??= trainModel(stack.store, input('ref', RESUME_CONFIG), localRunContext()));

/** Trains `runId` until the cancel seen at step `at` (it checkpoints there). */
async function trainUntilCancelled(runId: string, at: number): Promise<void> {
  const abort = new AbortController();
  const ctx = localRunContext({
    signal: abort.signal,
    onReport: (p) => {
      if ((p.step as number) === at) abort.abort(new Error('cancelled by test'));
    },
  });
  await assert.rejects(trainModel(stack.store, input(runId, RESUME_CONFIG), ctx), /cancelled by test/);
}

test('cancellation saves a checkpoint; the retry resumes and ends bit-identical to an uninterrupted run', async () => {
  const config = RESUME_CONFIG;
  const ref = await reference();
  await trainUntilCancelled('cut', 6);
  const saved = await latestCompleteCheckpoint(stack.store, 'cut');
  assert.equal(saved?.meta.step, 6, 'checkpoint written at the step boundary where the cancel was seen');
  assert.equal(saved?.meta.phase, 2);

  const resumedReports: Progress[] = [];
  const resumed = await trainModel(stack.store, input('cut', config), localRunContext({ onReport: (p) => resumedReports.push(p) }));
  assert.equal(resumed.resumedFromStep, 6);
  assert.equal(resumed.steps, 12);
  assert.ok(Math.min(...resumedReports.map((r) => r.step as number)) >= 6, 'the step counter continues from 6');
  const a = await stack.store.getBuffer(`${ref.modelKey}weights.bin`);
  const b = await stack.store.getBuffer(`${resumed.modelKey}weights.bin`);
  assert.ok(a.equals(b), 'final weights identical to the uninterrupted run');
  assert.deepEqual(resumed.finalMetrics, ref.finalMetrics, 'loss, AUC and lr as if never interrupted');
  const run = await stack.store.getJson<{ attempts: { resumedFromStep: number | null }[] }>(runJsonKey('cut'));
  assert.deepEqual(run.attempts.map((x) => x.resumedFromStep), [null, 6]);
});

test('a torn newest checkpoint: the resume uses the previous one, removes the torn one and still ends bit-identical', async () => {
  const ref = await reference();
  await trainUntilCancelled('torn', 6);
  // Checkpoints at 4 (epoch end) and 6 (cancel). Tear 6: same size, other bytes, so only its sha256 tells.
  const newest = await latestCompleteCheckpoint(stack.store, 'torn');
  assert.equal(newest?.meta.step, 6);
  const weightsKey = newest.prefix + CHECKPOINT_WEIGHTS;
  const good = await stack.store.getBuffer(weightsKey);
  const torn = Buffer.from(good);
  for (let i = 0; i < torn.length; i += 97) torn[i] ^= 0xff;
  await stack.store.putObject(weightsKey, torn);
  assert.equal((await latestCompleteCheckpoint(stack.store, 'torn'))?.prefix, newest.prefix, 'the torn checkpoint passes the size check');

  const logs: { message: string; fields?: Record<string, unknown> }[] = [];
  const ctx = { ...localRunContext(), log: (message: string, fields?: Record<string, unknown>) => void logs.push({ message, fields }) };
  const resumed = await trainModel(stack.store, input('torn', RESUME_CONFIG), ctx);
  assert.equal(resumed.resumedFromStep, 4, 'resumed from the previous checkpoint');
  assert.equal(resumed.steps, 12);
  const skipped = logs.find((l) => /skipping a checkpoint/.test(l.message));
  assert.equal(skipped?.fields?.step, 6);
  assert.match(String(skipped?.fields?.reason), /does not match its checkpoint meta\.json/);
  const a = await stack.store.getBuffer(`${ref.modelKey}weights.bin`);
  const b = await stack.store.getBuffer(`${resumed.modelKey}weights.bin`);
  assert.ok(a.equals(b), 'final weights identical to the uninterrupted run');
  // Step 6 was written again whole: every checkpoint left passes its sha256 check.
  const left = await newestVerifiedCheckpoint(stack.store, 'torn', { onSkip: (c) => assert.fail(`checkpoint ${c.prefix} still torn`) });
  assert.equal(left?.meta.step, 12);
});

test('a stop request checkpoints, exports the best weights and returns stoppedEarly', async () => {
  const pending: Promise<unknown>[] = [];
  const ctx = localRunContext({
    onReport: (p) => {
      if ((p.step as number) === 5 && !pending.length) pending.push(stack.store.putObject(stopRequestKey('stop'), 'test'));
    },
  });
  const result = await trainModel(stack.store, input('stop'), ctx);
  await Promise.all(pending);
  assert.equal(result.stoppedEarly, true);
  assert.ok(result.steps >= 5 && result.steps < 12, `stopped at ${result.steps}`);
  assert.equal(result.exported.weights, 'best');
  assert.equal(result.exported.step, result.bestStep);
  assert.equal((await latestCompleteCheckpoint(stack.store, 'stop'))?.meta.step, result.steps);
  const run = await stack.store.getJson<{ status: string }>(runJsonKey('stop'));
  assert.equal(run.status, 'stopped');
});

test('a run id reused with another config is refused, naming the problem', async () => {
  await assert.rejects(trainModel(stack.store, input('cut', { seed: 99, finalWeights: 'last', checkpointEverySteps: 100 }), localRunContext()), (err: Error) => {
    // The exported model of 'cut' has another config hash, so training starts and finds foreign checkpoints.
    assert.match(err.message, /already has checkpoints from another config/);
    return true;
  });
});
