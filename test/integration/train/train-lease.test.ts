/**
 * Fenced training against real MinIO: the run's lease (runs/<run>/lease.json) taken by conditional
 * write, taken over by a newer attempt, refused to an older one; and two trainers on one run, where
 * the superseded one stops at its next write and leaves the newer one's checkpoints and model alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, type TestStack } from '../../support/stack';
import { SiamfaceError } from '../../../lib/errors';
import type { S3Config } from '../../../lib/config';
import { localRunContext, type Progress } from '../../../lib/progress';
import { ObjectStore } from '../../../lib/storage/object-store';
import { RunLease, type LeaseJson } from '../../../lib/train/lease';
import { leaseKey, runJsonKey, runPrefix } from '../../../lib/train/run-layout';
import { newestVerifiedCheckpoint } from '../../../lib/train/checkpoint';
import { trainModel, type SiamfaceModelJson, type TrainModelInput } from '../../../lib/train/train-model';
import { TINY_TRAIN_CONFIG, writeTinyLfwDataset, type TinyDataset } from './lfw-shards';

let stack: TestStack;
let data: TinyDataset;

before(async () => {
  stack = await useStack('train-lease');
  data = await writeTinyLfwDataset(stack.store, { datasetId: 'tiny', imageSize: 40, trainIdentities: 6, valIdentities: 3, imagesPerIdentity: 5, shardSize: 12, trainPairs: 40, valPairs: 12 });
});
after(async () => stack?.close());

const leaseLost = (pattern: RegExp) => (err: SiamfaceError) => {
  assert.equal(err.code, 'lease_lost');
  assert.equal(err.permanent, true);
  assert.match(err.message, pattern);
  return true;
};

test('a newer attempt takes the lease over; the older one learns it at its next check and cannot take it back', async () => {
  const scope = 'wf/run/4';
  const first = await RunLease.take(stack.store, 'l1', { attempt: 1, scope });
  await first.check();
  const second = await RunLease.take(stack.store, 'l1', { attempt: 2, scope });
  assert.equal(second.lease.generation, first.lease.generation + 1);
  await second.check();
  await assert.rejects(first.check(), leaseLost(/run l1: attempt 1 does not hold .*lease\.json: it was taken over \(now attempt 2, generation 2/));
  // Attempt 1 stalled before it took the lease, and wakes up after attempt 2 did: it is the stale one.
  await assert.rejects(RunLease.take(stack.store, 'l1', { attempt: 1, scope }), leaseLost(/a newer attempt already holds it/));
  // Another workflow run (a resumed pipeline) counts its attempts from 1 again.
  const third = await RunLease.take(stack.store, 'l1', { attempt: 1, scope: 'wf/run2/4' });
  assert.equal(third.lease.generation, 3);
  await assert.rejects(second.check(), leaseLost(/attempt 2 does not hold/));
  const stored = await stack.store.getJson<LeaseJson>(leaseKey('l1'));
  assert.deepEqual([stored.attempt, stored.scope, stored.generation], [1, 'wf/run2/4', 3]);
});

test('two trainers taking one lease at once: both writes are conditional, exactly one holds it after', async () => {
  const [a, b] = await Promise.all([RunLease.take(stack.store, 'l2', { attempt: 1 }), RunLease.take(stack.store, 'l2', { attempt: 1 })]);
  assert.deepEqual([a.lease.generation, b.lease.generation].sort(), [1, 2], 'the loser of the first write read again and took over');
  const held = await Promise.allSettled([a.check(), b.check()]);
  assert.equal(held.filter((r) => r.status === 'fulfilled').length, 1);
});

/** The real store, except that once `armed` its next lease check waits for `release`: a trainer stalled just before a write. */
class StallingStore extends ObjectStore {
  armed = false;
  private onStalled!: () => void;
  /** Resolves when the check has stalled. */
  readonly stalled = new Promise<void>((resolve) => (this.onStalled = resolve));
  constructor(
    config: S3Config,
    private readonly release: Promise<void>,
  ) {
    super(config);
  }
  override async head(key: string) {
    if (this.armed && key.endsWith('/lease.json')) {
      this.armed = false;
      this.onStalled();
      await this.release;
    }
    return super.head(key);
  }
}

const input = (runId: string): TrainModelInput => ({
  runId,
  datasetId: data.datasetId,
  manifestKey: data.manifestKey,
  pairsKeys: data.pairsKeys,
  config: { ...TINY_TRAIN_CONFIG, finalWeights: 'last' },
});

async function snapshot(runId: string): Promise<Map<string, string>> {
  return new Map((await stack.store.listAll(runPrefix(runId))).map((o) => [o.key, o.etag]));
}

test('attempt 2 takes over a stalled attempt 1: attempt 1 writes nothing more and stops, attempt 2 finishes consistent', async () => {
  const runId = 'fenced';
  const reference = await trainModel(stack.store, input('unfenced'), localRunContext());

  // Attempt 1 stalls at its first write after step 5 (its checkpoint at step 6), holding checkpoints 3 and 4.
  let release!: () => void;
  const stalling = new StallingStore(stack.s3, new Promise<void>((r) => (release = r)));
  const onReport = (p: Progress) => void (p.step === 5 && (stalling.armed = true));
  const attempt1 = trainModel(stalling, input(runId), localRunContext({ onReport }), { lease: { attempt: 1, scope: 's' } }).then(
    () => null,
    (err: unknown) => err,
  );
  await Promise.race([stalling.stalled, attempt1.then((e) => assert.fail(`attempt 1 ended before it stalled: ${String(e)}`))]);

  const result = await trainModel(stack.store, input(runId), localRunContext(), { lease: { attempt: 2, scope: 's' } });
  assert.equal(result.resumedFromStep, 4, "attempt 2 resumed from attempt 1's newest checkpoint");
  assert.equal(result.steps, 12);
  const before = await snapshot(runId);

  release();
  const err = await attempt1;
  assert.ok(err instanceof SiamfaceError, `attempt 1 stopped with an error, got ${String(err)}`);
  leaseLost(/run fenced: attempt 1 does not hold .*taken over \(now attempt 2/)(err);
  assert.deepEqual(await snapshot(runId), before, 'attempt 1 wrote nothing after losing its lease');

  // Consistent: every checkpoint verifies, the newest is the end, and the model is attempt 2's, equal to an uninterrupted run.
  const newest = await newestVerifiedCheckpoint(stack.store, runId, { onSkip: (c) => assert.fail(`torn checkpoint ${c.prefix}`) });
  assert.equal(newest?.meta.step, 12);
  const sidecar = await stack.store.getJson<SiamfaceModelJson>(`${result.modelKey}siamface-model.json`);
  assert.deepEqual(sidecar.result, result);
  const a = await stack.store.getBuffer(`${reference.modelKey}weights.bin`);
  const b = await stack.store.getBuffer(`${result.modelKey}weights.bin`);
  assert.ok(a.equals(b), 'final weights identical to an uninterrupted run');
  const run = await stack.store.getJson<{ status: string; attempts: { attempt: number; leaseGeneration: number; resumedFromStep: number | null }[] }>(runJsonKey(runId));
  assert.equal(run.status, 'completed');
  assert.deepEqual(run.attempts.map((x) => [x.attempt, x.leaseGeneration, x.resumedFromStep]), [[1, 1, null], [2, 2, 4]]);
});
