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
