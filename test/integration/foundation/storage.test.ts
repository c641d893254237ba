import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { useStack, type TestStack } from '../../support/stack';
import { ObjectStore } from '../../../lib/storage/object-store';
import { readLocation } from '../../../lib/storage/open-location';
import { SiamfaceError } from '../../../lib/errors';

let stack: TestStack;
before(async () => {
  stack = await useStack('storage');
});
after(async () => stack?.close());

test('objects round-trip through MinIO: put/get/head/list/range/delete', async () => {
  const { store } = stack;
  await store.putObject('a/one.txt', 'hello');
  await store.putJson('a/two.json', { x: 1 });
  assert.equal((await store.getBuffer('a/one.txt')).toString(), 'hello');
  assert.deepEqual(await store.getJson('a/two.json'), { x: 1 });
  assert.equal((await store.head('a/one.txt'))?.size, 5);
  assert.equal(await store.head('a/missing'), null);
  assert.equal((await store.getRange('a/one.txt', 1, 3)).toString(), 'ell');
  assert.deepEqual((await store.listAll('a/')).map((o) => o.key).sort(), ['a/one.txt', 'a/two.json']);
  assert.equal((await readLocation(store.uri('a/one.txt'), { store })).toString(), 'hello');
  assert.equal(await store.deletePrefix('a/'), 2);
  assert.deepEqual(await store.listAll('a/'), []);
});

test('a large stream goes up as a multipart upload and comes back byte-identical', async () => {
  const { store } = stack;
  const size = 20 * 1024 * 1024 + 123; // three 8 MiB parts
  const data = crypto.randomBytes(size);
  const chunks = Array.from({ length: Math.ceil(size / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
  const res = await store.upload('big/blob.bin', Readable.from(chunks));
  assert.match(res.etag, /-3"?$/, `multipart ETag ends with the part count, got ${res.etag}`);
  const back = await store.getBuffer('big/blob.bin');
  assert.equal(back.length, size);
  assert.ok(back.equals(data));
});

test('conditional puts: If-None-Match refuses an existing object, If-Match refuses a stale ETag', async () => {
  const { store } = stack;
  const first = await store.putJson('ptr/production.json', { version: 1 }, { ifNoneMatch: '*' });
  await assert.rejects(store.putJson('ptr/production.json', { version: 9 }, { ifNoneMatch: '*' }), (e: unknown) => e instanceof SiamfaceError && e.code === 'precondition_failed' && /ptr\/production\.json/.test(e.message));
  const second = await store.putJson('ptr/production.json', { version: 2 }, { ifMatch: first.etag });
  await assert.rejects(store.putJson('ptr/production.json', { version: 3 }, { ifMatch: first.etag }), (e: unknown) => e instanceof SiamfaceError && e.code === 'precondition_failed');
  const now = await store.getJsonIfExists<{ version: number }>('ptr/production.json');
  assert.equal(now?.value.version, 2);
  assert.equal(now?.etag, second.etag);
});

test('missing objects and wrong credentials give clear, classified errors', async () => {
  const { store } = stack;
  await assert.rejects(store.getBuffer('nope/missing.bin'), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found' && e.message.includes(`s3://${store.bucket}/nope/missing.bin`));
  const wrong = new ObjectStore({ ...stack.s3, secretAccessKey: 'definitely-wrong-secret' });
  await assert.rejects(wrong.getBuffer('x'), (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_credentials' && e.permanent && !e.message.includes('definitely-wrong-secret'));
  const unreachable = new ObjectStore({ ...stack.s3, endpoint: 'http://127.0.0.1:9' });
  await assert.rejects(unreachable.head('x'), (e: unknown) => e instanceof SiamfaceError && e.code === 'transient' && !e.permanent);
});
