/**
 * Model files and ImageNet weights through a real MinIO: save/load a tower under a prefix,
 * and fetch-once-then-cache of a weights file served over real HTTP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { useStack, type TestStack } from '../../support/stack';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { loadModelFromStore, saveModelToStore } from '../../../lib/model/io';
import { resolveImagenetWeights } from '../../../lib/model/keras-weights';
import { SiamfaceError } from '../../../lib/errors';

const TINY_H5 = path.resolve(__dirname, '../../../../test/fixtures/model/tiny/weights.h5');

let stack: TestStack;
let server: http.Server;
let baseUrl = '';
const hits: string[] = [];

before(async () => {
  stack = await useStack('model-store');
  server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/densenet_notop.h5') res.end(fs.readFileSync(TINY_H5));
    else if (req.url === '/junk.h5') res.end('<html>not weights</html>');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  server?.close();
  await stack?.close();
});

test('a tower saved under an S3 prefix loads back with bit-identical outputs', async () => {
  const cfg = { inputSize: 32, blocks: [1, 1], growthRate: 8, headUnits: [16, 8] as [number, number], embeddingDim: 4 };
  const model = buildEmbeddingTower(cfg, { seed: 1 });
  await saveModelToStore(model, stack.store, 'runs/r1/model', { metadata: { config: cfg } });
  const keys = (await stack.store.listAll('runs/r1/model/')).map((o) => o.key).sort();
  assert.deepEqual(keys, ['runs/r1/model/model.json', 'runs/r1/model/weights.bin']);
  const loaded = await loadModelFromStore(stack.store, 'runs/r1/model');
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5);
  const a = (model.predict(x) as tf.Tensor).dataSync();
  const b = (loaded.predict(x) as tf.Tensor).dataSync();
  assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)));
  await assert.rejects(loadModelFromStore(stack.store, 'runs/none/model'), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found');
});

test('ImageNet weights are downloaded once, cached in the object store, then served from caches', async () => {
  const md5 = createHash('md5').update(fs.readFileSync(TINY_H5)).digest('hex');
  const url = `${baseUrl}/densenet_notop.h5`;
  const key = 'cache/weights/densenet_notop.h5';
  const dirA = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-weights-a-'));
  const dirB = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-weights-b-'));
  const first = await resolveImagenetWeights(url, stack.store, key, { localDir: dirA, md5 });
  assert.ok(fs.readFileSync(first).equals(fs.readFileSync(TINY_H5)));
  assert.equal((await stack.store.head(key))?.size, fs.statSync(TINY_H5).size);
  assert.equal(hits.filter((h) => h === '/densenet_notop.h5').length, 1);
  // Another worker (empty local cache) gets it from the store, not from the URL.
  const second = await resolveImagenetWeights(url, stack.store, key, { localDir: dirB, md5 });
  assert.ok(fs.readFileSync(second).equals(fs.readFileSync(TINY_H5)));
  // Same worker again: local file, even when the URL is now unreachable.
  assert.equal(await resolveImagenetWeights(`${baseUrl}/gone.h5`, stack.store, key, { localDir: dirA }), first);
  assert.equal(hits.filter((h) => h === '/densenet_notop.h5').length, 1);
  // The s3:// form of the cached object works as a source too.
  const viaS3 = await resolveImagenetWeights(stack.store.uri(key), stack.store, 'cache/weights/copy.h5', { localDir: dirB });
  assert.ok(fs.readFileSync(viaS3).equals(fs.readFileSync(TINY_H5)));
});

test('a wrong checksum or a non-HDF5 download is refused and not cached', async () => {
  await assert.rejects(
    resolveImagenetWeights(`${baseUrl}/densenet_notop.h5`, stack.store, 'cache/weights/bad-md5.h5', { md5: '0'.repeat(32), localDir: os.tmpdir() }),
    (e: unknown) => e instanceof SiamfaceError && e.code === 'checksum_mismatch');
  assert.equal(await stack.store.head('cache/weights/bad-md5.h5'), null);
  await assert.rejects(
    resolveImagenetWeights(`${baseUrl}/junk.h5`, stack.store, 'cache/weights/junk.h5', { localDir: os.tmpdir() }),
    (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_input' && /not an HDF5 file/.test(e.message));
  await assert.rejects(
    resolveImagenetWeights(`${baseUrl}/missing.h5`, stack.store, 'cache/weights/missing.h5', { localDir: os.tmpdir() }),
    (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found');
});
