import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LRUCache } from 'lru-cache';
import { useStack, type TestStack } from '../../support/stack';
import { JobEmbeddingCache, type LocalEmbeddings } from '../../../lib/verify/embedding-cache';
import { embeddingsPrefix } from '../../../lib/verify/job-layout';

let stack: TestStack;
before(async () => {
  stack = await useStack('embedding-cache');
});
after(async () => stack?.close());

const emb = (x: number) => ({ embedding: Float32Array.from([x, x + 1]) });

test('the in-process layer evicts the least recently used image, not the first stored', async () => {
  const jobId = 'job-lru';
  const local: LocalEmbeddings = new LRUCache({ max: 2 });
  const cache = new JobEmbeddingCache(stack.store, jobId, local);
  await cache.putMany([
    ['s3://b/a.jpg', emb(1)],
    ['s3://b/b.jpg', emb(2)],
  ]);
  assert.equal((await cache.getMany(['s3://b/a.jpg'])).size, 1); // a is now the most recently used
  await cache.putMany([['s3://b/c.jpg', emb(3)]]); // one over the bound: evicts b
  // With the S3 layer gone, only what the in-process layer kept is found.
  assert.ok((await stack.store.deletePrefix(embeddingsPrefix(jobId))) >= 3);
  const found = await cache.getMany(['s3://b/a.jpg', 's3://b/b.jpg', 's3://b/c.jpg']);
  assert.deepEqual([...found.keys()].sort(), ['s3://b/a.jpg', 's3://b/c.jpg']);
  assert.deepEqual(Array.from((found.get('s3://b/a.jpg') as { embedding: Float32Array }).embedding), [1, 2]);
});

test('an image evicted from the in-process layer is still served from S3', async () => {
  const local: LocalEmbeddings = new LRUCache({ max: 1 });
  const cache = new JobEmbeddingCache(stack.store, 'job-s3', local);
  await cache.putMany([
    ['s3://b/a.jpg', emb(5)],
    ['s3://b/b.jpg', { error: { code: 'no_face', message: 'no face found in s3://b/b.jpg' } }],
  ]);
  assert.equal(local.size, 1);
  const found = await cache.getMany(['s3://b/a.jpg', 's3://b/b.jpg']);
  assert.deepEqual(Array.from((found.get('s3://b/a.jpg') as { embedding: Float32Array }).embedding), [5, 6]);
  assert.deepEqual(found.get('s3://b/b.jpg'), { error: { code: 'no_face', message: 'no face found in s3://b/b.jpg' } });
});

test('chunks claiming the same images at once: the second waits for the first instead of embedding them again', async () => {
  const jobId = 'job-claim';
  const first = new JobEmbeddingCache(stack.store, jobId, new LRUCache({ max: 10 }));
  const second = new JobEmbeddingCache(stack.store, jobId, new LRUCache({ max: 10 }));
  await first.putMany([['s3://b/cached.jpg', emb(0)]]);
  const a = await first.claim(['s3://b/cached.jpg', 's3://b/x.jpg', 's3://b/y.jpg']);
  assert.deepEqual([...a.found.keys()], ['s3://b/cached.jpg']);
  assert.deepEqual(a.mine, ['s3://b/x.jpg', 's3://b/y.jpg']);
  assert.equal(a.waiting.size, 0);
  const b = await second.claim(['s3://b/x.jpg', 's3://b/y.jpg', 's3://b/z.jpg']);
  assert.deepEqual(b.mine, ['s3://b/z.jpg']);
  assert.deepEqual([...b.waiting.keys()], ['s3://b/x.jpg', 's3://b/y.jpg']);
  // The first stores x, then gives up on y (its attempt failed): the waiter gets x, and y back to embed itself.
  await first.putMany([['s3://b/x.jpg', emb(7)]]);
  first.release(a.mine);
  assert.deepEqual(Array.from(((await b.waiting.get('s3://b/x.jpg')) as { embedding: Float32Array }).embedding), [7, 8]);
  assert.equal(await b.waiting.get('s3://b/y.jpg'), undefined);
  second.release(b.mine);
  // Nothing is left claimed: a later chunk embeds y itself.
  const c = await second.claim(['s3://b/y.jpg']);
  assert.deepEqual(c.mine, ['s3://b/y.jpg']);
  second.release(c.mine);
});

test('a claim whose S3 lookup fails claims nothing', async () => {
  const jobId = 'job-claim-fail';
  const broken = Object.create(stack.store, { getJsonIfExists: { value: async () => Promise.reject(new Error('S3 is down')) } });
  const cache = new JobEmbeddingCache(broken, jobId, new LRUCache({ max: 10 }));
  await assert.rejects(cache.claim(['s3://b/p.jpg']), /S3 is down/);
  const again = await new JobEmbeddingCache(stack.store, jobId, new LRUCache({ max: 10 })).claim(['s3://b/p.jpg']);
  assert.deepEqual(again.mine, ['s3://b/p.jpg']);
  assert.equal(again.waiting.size, 0);
});
