/**
 * Checkpoints and the data loader against real MinIO: bit-exact save/restore of weights and Adam
 * state, half-written checkpoints ignored, pruning to K; batches a pure function of their cursor,
 * identical whether images come from whole shards or ranged reads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useStack, type TestStack } from '../../support/stack';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { selectBackend } from '../../../lib/model/backend';
import { serializeWeights, serializeTensors } from '../../../lib/model/io';
import { IMAGENET_NORMALIZATION } from '../../../lib/model/preprocess';
import { SiamfaceError } from '../../../lib/errors';
import type { S3Config } from '../../../lib/config';
import { ObjectStore } from '../../../lib/storage/object-store';
import { adamState, latestCompleteCheckpoint, newestVerifiedCheckpoint, pruneCheckpoints, readCheckpointPointer, type PointerState, restoreCheckpointOptimizer, restoreCheckpointWeights, saveCheckpoint, CHECKPOINT_META, CHECKPOINT_WEIGHTS } from '../../../lib/train/checkpoint';
import { checkpointPointerKey, checkpointPrefix, checkpointsPrefix } from '../../../lib/train/run-layout';
import { PairBatchLoader, ShardImageSource, loadPairs } from '../../../lib/train/data-loader';
import { contrastiveObjective, trainStep, trainableVariables } from '../../../lib/train/siamese-step';
import { writeTinyLfwDataset, type TinyDataset } from './lfw-shards';

const TINY = { inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [16, 16] as [number, number], embeddingDim: 8 };
let stack: TestStack;
let data: TinyDataset;

before(async () => {
  stack = await useStack('train-ckpt');
  await selectBackend(process.env.SIAMFACE_TF_BACKEND ? 'auto' : 'wasm', { log: () => undefined });
  data = await writeTinyLfwDataset(stack.store, { datasetId: 'tiny', imageSize: 40, trainIdentities: 6, valIdentities: 3, imagesPerIdentity: 5, shardSize: 12, trainPairs: 40, valPairs: 12 });
});
after(async () => stack?.close());

async function trainedModelAndOptimizer() {
  const model = buildEmbeddingTower(TINY, { seed: 2 });
  const opt = tf.train.adam(1e-2);
  const { variables, names } = trainableVariables(model);
  const images = tf.randomNormal([8, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.tensor1d([1, 0, 1, 0]);
  for (let i = 0; i < 3; i++) trainStep(model, opt, variables, { images, labels }, contrastiveObjective(1));
  tf.dispose([images, labels]);
  return { model, opt, names };
}

const base = { epoch: 0, phase: 2 as const, seed: 1, configHash: 'h1', metrics: { loss: 0.5 }, best: null, backend: tf.getBackend() };

test('checkpoint round trip through MinIO is bit-exact for weights and Adam state', async () => {
  const { model, opt, names } = await trainedModelAndOptimizer();
  const runId = 'roundtrip';
  await saveCheckpoint(stack.store, { ...base, runId, step: 3, cursor: { epoch: 0, index: 3 }, model, optimizer: { optimizer: opt, phase: 2, variables: names }, keep: 3 });
  const ref = await latestCompleteCheckpoint(stack.store, runId);
  assert.ok(ref);
  assert.equal(ref.meta.step, 3);
  assert.deepEqual(ref.meta.cursor, { epoch: 0, index: 3 });
  assert.equal(ref.meta.optimizer?.iterations, 3);

  const fresh = buildEmbeddingTower(TINY, { seed: 3 });
  await restoreCheckpointWeights(stack.store, ref, fresh);
  assert.ok((await serializeWeights(fresh)).data.equals((await serializeWeights(model)).data), 'weights bit-exact');
  const opt2 = tf.train.adam(1e-2);
  assert.equal(await restoreCheckpointOptimizer(stack.store, ref, opt2, trainableVariables(fresh).names), true);
  const before = await serializeTensors(await adamState(opt));
  const after = await serializeTensors(await adamState(opt2));
  assert.ok(after.data.equals(before.data), 'optimizer state (iterations, moments, beta powers) bit-exact');
  await assert.rejects(restoreCheckpointOptimizer(stack.store, ref, tf.train.adam(1e-2), names.slice(1)), /differ/);
  tf.dispose([model, fresh].flatMap((m) => m.weights.map((w) => w.read())));
  opt.dispose();
  opt2.dispose();
});

test('half-written and corrupt checkpoints are ignored; pruning keeps the newest K', async () => {
  const { model, opt, names } = await trainedModelAndOptimizer();
  const runId = 'partial';
  const save = (step: number, keep = 2) =>
    saveCheckpoint(stack.store, { ...base, runId, step, cursor: { epoch: 0, index: step }, model, optimizer: { optimizer: opt, phase: 2, variables: names }, keep });
  await save(4, 10);
  // Crashed mid-write: data but no meta.json.
  await stack.store.putObject(checkpointPrefix(runId, 9) + CHECKPOINT_WEIGHTS, Buffer.alloc(100));
  // meta.json present but the weights object is truncated (sizes disagree).
  const good = (await latestCompleteCheckpoint(stack.store, runId))!;
  await stack.store.putJson(checkpointPrefix(runId, 12) + CHECKPOINT_META, { ...good.meta, step: 12 });
  await stack.store.putObject(checkpointPrefix(runId, 12) + CHECKPOINT_WEIGHTS, Buffer.alloc(10));
  const latest = await latestCompleteCheckpoint(stack.store, runId);
  assert.equal(latest?.meta.step, 4, 'the newest usable checkpoint is step 4');
  await assert.rejects(latestCompleteCheckpoint(stack.store, runId, { configHash: 'other' }), /another config/);

  await stack.store.deletePrefix(checkpointPrefix(runId, 12));
  await save(5, 10);
  await save(6, 10);
  await save(7, 2);
  const left = [...new Set((await stack.store.listAll(checkpointsPrefix(runId))).map((o) => o.key.split('/')[3]))].filter((n) => n.startsWith('ckpt-')).sort();
  // 4 and 5 pruned; 9 is unfinished but newer than the newest complete one, so it may be a write in progress.
  assert.deepEqual(left, ['ckpt-00000006', 'ckpt-00000007', 'ckpt-00000009']);
  assert.deepEqual(await pruneCheckpoints(stack.store, runId, 2), []);
  opt.dispose();
  model.dispose();
});

test('checkpoints have attempt-unique names; the pointer moves only by conditional write, and a resume trusts it first', async () => {
  const { model, opt, names } = await trainedModelAndOptimizer();
  const runId = 'pointer';
  const save = (step: number, writer: number, pointer: PointerState) =>
    saveCheckpoint(stack.store, { ...base, runId, step, cursor: { epoch: 0, index: step }, model, optimizer: { optimizer: opt, phase: 2, variables: names }, keep: 3, writer, pointer });
  const stale: PointerState = { etag: null };
  const a = await save(2, 1, stale);
  assert.equal(a.prefix, checkpointPrefix(runId, 2, 1));
  assert.match(a.prefix, /ckpt-00000002-g000001\/$/);
  // Writer 2 takes over (reading the pointer after taking the lease) and checkpoints step 3.
  const fresh: PointerState = { etag: (await readCheckpointPointer(stack.store, runId))!.etag };
  const b = await save(3, 2, fresh);
  // Writer 1 wakes up and checkpoints step 4: its files land under its own name, but the pointer refuses it.
  await assert.rejects(save(4, 1, stale), (err: SiamfaceError) => {
    assert.equal(err.code, 'lease_lost');
    assert.match(err.message, /checkpoints\/latest\.json was moved by another trainer.*ckpt-00000004-g000001\/ is left unreferenced/);
    return true;
  });
  assert.equal((await readCheckpointPointer(stack.store, runId))?.value.prefix, b.prefix);
  const resumed = await newestVerifiedCheckpoint(stack.store, runId);
  assert.equal(resumed?.prefix, b.prefix, "the pointer's checkpoint, not the stale writer's newer step");
  assert.equal(resumed?.meta.step, 3);
  // Without the pointer (a run from before it), the listing decides: newest step, newest writer first.
  await save(4, 3, { etag: (await readCheckpointPointer(stack.store, runId))!.etag });
  await stack.store.delete(checkpointPointerKey(runId));
  assert.equal((await latestCompleteCheckpoint(stack.store, runId))?.prefix, checkpointPrefix(runId, 4, 3));
  opt.dispose();
  model.dispose();
});

/** The real store, except that meta.json reads go to an S3 endpoint where nothing listens (a network failure). */
class MetaUnreachableStore extends ObjectStore {
  private readonly unreachable: ObjectStore;
  constructor(config: S3Config) {
    super(config);
    this.unreachable = new ObjectStore({ ...config, endpoint: 'http://127.0.0.1:9' });
  }
  override getJsonIfExists<T>(key: string) {
    return key.endsWith(CHECKPOINT_META) ? this.unreachable.getJsonIfExists<T>(key) : super.getJsonIfExists<T>(key);
  }
}

test('a transient S3 error while reading a checkpoint is an error, not "no checkpoint"', async () => {
  const { model, opt, names } = await trainedModelAndOptimizer();
  const runId = 'transient';
  await saveCheckpoint(stack.store, { ...base, runId, step: 2, cursor: { epoch: 0, index: 2 }, model, optimizer: { optimizer: opt, phase: 2, variables: names }, keep: 3 });
  const flaky = new MetaUnreachableStore(stack.s3);
  await assert.rejects(latestCompleteCheckpoint(flaky, runId), (err: SiamfaceError) => {
    assert.equal(err.code, 'transient');
    assert.equal(err.permanent, false);
    assert.match(err.message, /checkpoints\/ckpt-00000002\/meta\.json/);
    return true;
  });
  await assert.rejects(newestVerifiedCheckpoint(flaky, runId), /ckpt-00000002\/meta\.json/);
  assert.equal((await latestCompleteCheckpoint(stack.store, runId))?.meta.step, 2, 'readable again once S3 answers');
  opt.dispose();
  model.dispose();
});

test('batches are a pure function of (seed, epoch, index), the same from whole shards and ranged reads', async () => {
  const pairs = await loadPairs(stack.store, data.pairsKeys.train);
  const open = (shardCacheBytes: number, decodedCacheImages: number) =>
    ShardImageSource.open(stack.store, data.manifestKey, { imageSize: 32, decodedCacheImages, shardCacheBytes });
  const whole = await open(1 << 30, 1000);
  const ranged = await open(0, 0);
  assert.equal(whole.stats.mode, 'whole-shard');
  assert.equal(ranged.stats.mode, 'ranged');
  whole.checkPairs(pairs, 'train pairs');
  assert.throws(() => whole.checkPairs([{ a: 'nobody/x.jpg', b: pairs[0].a, label: 0 }], 'bad pairs'), /bad pairs: 1 image ids are in no shard.*nobody\/x\.jpg/);
  const opts = { batchSize: 4, imageSize: 32, seed: 5, augment: { flip: true, scaleJitter: 0.2, brightness: 0.1, contrast: 0.1 }, stepsPerEpoch: 3, prefetch: 2, normalization: IMAGENET_NORMALIZATION };
  const a = new PairBatchLoader(whole, pairs, opts);
  const b = new PairBatchLoader(ranged, pairs, opts);

  // A full run of 7 batches (crossing two epoch ends) ...
  const all = [];
  for await (const batch of a.batches({ epoch: 0, index: 0 }, 7)) all.push(batch);
  assert.deepEqual(all.map((x) => x.cursor), [
    { epoch: 0, index: 0 }, { epoch: 0, index: 1 }, { epoch: 0, index: 2 },
    { epoch: 1, index: 0 }, { epoch: 1, index: 1 }, { epoch: 1, index: 2 }, { epoch: 2, index: 0 },
  ]);
  // ... equals a run resumed at (1, 1) by another loader reading ranged, uncached.
  const resumed = [];
  for await (const batch of b.batches({ epoch: 1, index: 1 }, 3)) resumed.push(batch);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(resumed[i].cursor, all[4 + i].cursor);
    assert.deepEqual(resumed[i].pairs, all[4 + i].pairs);
    assert.deepEqual(resumed[i].labels, all[4 + i].labels);
    assert.ok(Buffer.from(resumed[i].images.buffer).equals(Buffer.from(all[4 + i].images.buffer)), `batch ${i} pixels identical`);
  }
  // Epochs are shuffled differently; images are preprocessed (ImageNet mean/std), not raw bytes.
  assert.notDeepEqual(all[0].pairs, all[3].pairs);
  const px = all[0].images;
  assert.ok(px.some((v) => v < 0) && px.every((v) => v > -2.2 && v < 2.7));
  // Whole-shard mode fetches each shard at most once; ranged mode without a cache never hits it.
  const shards = (await stack.store.getJson<{ shards: { bytes: number }[] }>(data.manifestKey)).shards;
  assert.ok(whole.stats.bytesRead > 0 && whole.stats.bytesRead <= shards.reduce((n, s) => n + s.bytes, 0), `whole-shard bytes read: ${whole.stats.bytesRead}`);
  assert.ok(whole.stats.cacheHits > 0);
  assert.equal(ranged.stats.cacheHits, 0);
  assert.ok(ranged.stats.decodes > 0 && ranged.stats.bytesRead > 0);
});
