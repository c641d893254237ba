/**
 * The shard stage when the store fails under it (as when MinIO goes away mid-stage): the stage fails with the store's
 * error, nothing is left unhandled (an unhandled rejection kills the worker process, and with it every later retry),
 * and no write of the failed attempt lands after the stage has failed. Real MinIO; a store subclass injects the
 * failure in one method, every other call reaches MinIO.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { useStack, type TestStack } from '../../support/stack';
import { testInputDir } from '../../support/test-policy';
import { localRunContext } from '../../../lib/progress';
import { ObjectStore, type PutOptions } from '../../../lib/storage/object-store';
import { fetchDataset } from '../../../lib/data/fetch-dataset';
import { shardDataset } from '../../../lib/data/shard-dataset';
import { copySubset } from './helpers';

let stack: TestStack;
let folder: string;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

/** The real store, except that the calls `failWhen` picks reject with a connection error, as a stopped MinIO does. */
class FailingStore extends ObjectStore {
  putsAfterFailure = 0;
  failed = false;
  constructor(
    base: TestStack,
    private readonly failWhen: { method: 'putObject' | 'getBuffer'; key: (key: string) => boolean },
  ) {
    super(base.s3);
  }
  private maybeFail(method: string, key: string): void {
    if (method === this.failWhen.method && this.failWhen.key(key)) {
      this.failed = true;
      throw Object.assign(new Error(`connect ECONNREFUSED (injected) for ${key}`), { code: 'ECONNREFUSED' });
    }
  }
  override async putObject(key: string, body: Buffer | Uint8Array | string, opts?: PutOptions) {
    if (this.failed) this.putsAfterFailure++;
    await new Promise((r) => setImmediate(r));
    this.maybeFail('putObject', key);
    return super.putObject(key, body, opts);
  }
  override async getBuffer(key: string) {
    this.maybeFail('getBuffer', key);
    return super.getBuffer(key);
  }
}

before(async () => {
  stack = await useStack('shard-failures');
  folder = path.join(testInputDir('shard-failures'), 'faces');
  copySubset('lfw-train', 12, folder);
  await fetchDataset(stack.store, { source: { kind: 'folder', location: folder }, datasetId: 'faces' }, localRunContext());
  process.on('unhandledRejection', onUnhandled);
});

after(async () => {
  process.off('unhandledRejection', onUnhandled);
  fs.rmSync(path.dirname(folder), { recursive: true, force: true });
  await stack?.close();
});

const shardInput = (shardSize: number) => ({ datasetId: 'faces', imageSize: 32, shardSize, maxBadFraction: 0.5 });
const settle = () => new Promise((r) => setTimeout(r, 200));

test('a shard upload that fails while the next shard is decoded fails the stage, and is not left unhandled', async () => {
  const store = new FailingStore(stack, { method: 'putObject', key: (k) => k.endsWith('.tar') });
  await assert.rejects(shardDataset(store, shardInput(4), localRunContext()), /ECONNREFUSED \(injected\)/);
  await settle();
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});

test('a read that fails while the previous shard uploads fails the stage after that upload has settled', async () => {
  let reads = 0;
  // The fifth image read is in the second shard (4 per shard), while the first shard's upload is in flight.
  const store = new FailingStore(stack, { method: 'getBuffer', key: (k) => k.includes('/raw/') && !k.endsWith('_manifest.json') && ++reads === 5 });
  await assert.rejects(shardDataset(store, shardInput(4), localRunContext()), /ECONNREFUSED \(injected\)/);
  const putsWhenFailed = store.putsAfterFailure;
  await settle();
  assert.equal(store.putsAfterFailure, putsWhenFailed, 'no write started after the stage failed');
  assert.deepEqual(unhandled, [], 'no unhandled rejection');

  // The store is back: a retry completes.
  const retried = await shardDataset(stack.store, shardInput(4), localRunContext());
  assert.ok(retried.images > 0);
});
