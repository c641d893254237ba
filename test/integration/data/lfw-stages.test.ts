/**
 * The three data stages on real MinIO with a subset of lfw-train plus deliberately bad files:
 * complete and consistent output, a second run that does no work, a shard run killed mid-way that completes
 * on retry, too many bad images, archives over HTTP (tar.gz) and a zip-slip archive.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { useStack, type TestStack } from '../../support/stack';
import { testInputDir } from '../../support/test-policy';
import { writeZip } from '../../support/zip-writer';
import { localRunContext } from '../../../lib/progress';
import { SiamfaceError } from '../../../lib/errors';
import { fetchDataset } from '../../../lib/data/fetch-dataset';
import { shardDataset } from '../../../lib/data/shard-dataset';
import { generatePairs } from '../../../lib/data/generate-pairs';
import type { RawManifest } from '../../../lib/data/raw-manifest';
import type { DatasetManifest } from '../../../lib/data/dataset-manifest';
import { readShardIndex } from '../../../lib/data/shard-format';
import { ShardImageSource } from '../../../lib/train/data-loader';
import { checkDatasetConsistency, copySubset, SHARED } from './helpers';

const IDENTITIES = 150;
let stack: TestStack;
let tmp: string;
let folder: string;
let server: http.Server;
let baseUrl: string;
const ctx = () => localRunContext();

before(async () => {
  stack = await useStack('data-lfw');
  tmp = testInputDir('lfw');
  folder = path.join(tmp, 'lfw');
  const names = copySubset('lfw-train', IDENTITIES, folder);
  // Bad inputs inside real identity folders.
  const good = fs.readFileSync(path.join(folder, names[0], fs.readdirSync(path.join(folder, names[0]))[0]));
  fs.writeFileSync(path.join(folder, names[1], 'corrupt_truncated.jpg'), good.subarray(0, Math.floor(good.length / 3)));
  fs.writeFileSync(path.join(folder, names[2], 'zero_bytes.jpg'), Buffer.alloc(0));
  fs.writeFileSync(path.join(folder, names[3], 'notes.jpg'), 'this is a text file with a .jpg name\n');
  fs.symlinkSync('/etc/passwd', path.join(folder, names[4], 'link.jpg'));
  server = http.createServer((req, res) => {
    const file = path.join(tmp, 'served', path.basename(req.url ?? ''));
    if (!fs.existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  fs.mkdirSync(path.join(tmp, 'served'));
});

after(async () => {
  server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  await stack?.close();
});

test('lfw subset: fetch, shard and pairs are complete and consistent; bad files are reported, not fatal', async () => {
  const store = stack.store;
  const fetched = await fetchDataset(store, { source: { kind: 'folder', location: folder }, datasetId: 'lfw' }, ctx());
  const raw = await store.getJson<RawManifest>(fetched.manifestKey);
  const onDisk = execFileSync('find', [folder, '-type', 'f']).toString().trim().split('\n').length;
  assert.equal(fetched.files, onDisk);
  assert.equal(fetched.uploaded, onDisk);
  assert.deepEqual(raw.skipped.map((s) => s.reason), ['symlink not followed']);
  for (const f of raw.files.slice(0, 5)) assert.equal((await store.head(`datasets/lfw/raw/${f.path}`))?.size, f.size);

  const sharded = await shardDataset(store, { datasetId: 'lfw', imageSize: 64, shardSize: 100, maxBadFraction: 0.01 }, ctx());
  assert.equal(sharded.skippedImages, 3);
  assert.equal(sharded.images, fetched.images - 3);
  const pairs = await generatePairs(store, { datasetId: 'lfw', manifestKey: sharded.manifestKey, pairsPerSplit: { train: 400, val: 60, test: 60 }, seed: 5 }, ctx());
  const { manifest, identitySplit, pairCounts } = await checkDatasetConsistency(store, sharded, pairs);
  assert.equal(identitySplit.size, IDENTITIES);
  assert.deepEqual(pairCounts.train, { same: 200, different: 200 });
  assert.deepEqual(pairs.counts.train, pairCounts.train);
  const reasons = Object.fromEntries(manifest.quality.skipped.map((s) => [s.source.split('/')[1], s.reason]));
  assert.match(reasons['corrupt_truncated.jpg'], /corrupt or truncated/);
  assert.match(reasons['zero_bytes.jpg'], /empty file/);
  assert.match(reasons['notes.jpg'], /not an image/);
  assert.equal(manifest.splits.train.identities + manifest.splits.val.identities + manifest.splits.test.identities, IDENTITIES);
  const summary = await store.getJson<{ identityOverlap: number }>(pairs.summaryKey);
  assert.equal(summary.identityOverlap, 0);

  // Second run: nothing uploaded, no shard rewritten, pairs untouched.
  const before = (await store.head(manifest.shards[0].key))?.lastModified?.getTime();
  assert.equal((await fetchDataset(store, { source: { kind: 'folder', location: folder }, datasetId: 'lfw' }, ctx())).uploaded, 0);
  assert.equal((await shardDataset(store, { datasetId: 'lfw', imageSize: 64, shardSize: 100, maxBadFraction: 0.01 }, ctx())).shardsWritten, 0);
  assert.equal((await generatePairs(store, { datasetId: 'lfw', manifestKey: sharded.manifestKey, pairsPerSplit: { train: 400, val: 60, test: 60 }, seed: 5 }, ctx())).written, false);
  assert.equal((await store.head(manifest.shards[0].key))?.lastModified?.getTime(), before);
});

test('an interrupted fetch resumes: only missing or changed raw objects are uploaded again', async () => {
  const store = stack.store;
  const raw = await store.getJson<RawManifest>('datasets/lfw/raw/_manifest.json');
  await store.delete('datasets/lfw/raw/_manifest.json'); // as if the run died before finishing
  const victims = raw.files.filter((f) => f.path.endsWith('.jpg')).slice(10, 15);
  for (const v of victims.slice(0, 4)) await store.delete(`datasets/lfw/raw/${v.path}`);
  const changedKey = `datasets/lfw/raw/${victims[4].path}`;
  const original = await store.getBuffer(changedKey);
  await store.putObject(changedKey, Buffer.alloc(original.length, 1)); // same size, other content
  const again = await fetchDataset(store, { source: { kind: 'folder', location: folder }, datasetId: 'lfw' }, ctx());
  assert.equal(again.uploaded, 5);
  assert.ok((await store.getBuffer(changedKey)).equals(original));
  const rerun = await store.getJson<RawManifest>('datasets/lfw/raw/_manifest.json');
  assert.deepEqual(rerun.files, raw.files);
});

test('too many bad images fails permanently and names examples', async () => {
  await assert.rejects(
    shardDataset(stack.store, { datasetId: 'lfw', imageSize: 32, shardSize: 100, maxBadFraction: 0 }, ctx()),
    (e: unknown) => e instanceof SiamfaceError && e.code === 'too_many_bad_images' && e.permanent && /3 of \d+ images are bad/.test(e.message) && /zero_bytes\.jpg|notes\.jpg|corrupt/.test(e.message),
  );
});

test('a shard run killed mid-way completes on retry without duplicates or gaps', async () => {
  const store = stack.store;
  await fetchDataset(store, { source: { kind: 'folder', location: folder }, datasetId: 'lfw-kill' }, ctx());
  const input = { datasetId: 'lfw-kill', imageSize: 48, shardSize: 40, maxBadFraction: 0.01 };
  // A separate process (a worker) shards until a few shards exist, then is killed with SIGKILL.
  const script = `
    const { ObjectStore } = require(${JSON.stringify(path.resolve(__dirname, '../../../lib/storage/object-store'))});
    const { shardDataset } = require(${JSON.stringify(path.resolve(__dirname, '../../../lib/data/shard-dataset'))});
    const { localRunContext } = require(${JSON.stringify(path.resolve(__dirname, '../../../lib/progress'))});
    shardDataset(new ObjectStore(${JSON.stringify(stack.s3)}), ${JSON.stringify(input)}, localRunContext()).then(() => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 60_000;
  let indexes = 0;
  while (Date.now() < deadline) {
    indexes = (await store.listAll('datasets/lfw-kill/shards/')).filter((o) => o.key.endsWith('.index.json')).length;
    if (indexes >= 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  await exited;
  assert.ok(indexes >= 3, 'the killed run wrote some shards');
  const manifests = (await store.listAll('datasets/lfw-kill/shards/')).filter((o) => o.key.endsWith('/manifest.json'));
  assert.deepEqual(manifests, [], 'the killed run did not finish');

  const resumed = await shardDataset(store, input, ctx());
  assert.ok(resumed.shardsWritten < resumed.shards, `retry rewrote ${resumed.shardsWritten} of ${resumed.shards} shards`);
  const pairs = await generatePairs(store, { datasetId: 'lfw-kill', manifestKey: resumed.manifestKey, pairsPerSplit: 50 }, ctx());
  const { imageSplit } = await checkDatasetConsistency(store, resumed, pairs);
  assert.equal(imageSplit.size, resumed.images);
  assert.equal(resumed.images + resumed.skippedImages, (await store.getJson<RawManifest>('datasets/lfw-kill/raw/_manifest.json')).images.length);
});

test('an http tar.gz archive of identity folders is fetched; a zip with ../evil is rejected and writes nothing', async () => {
  const store = stack.store;
  const src = path.join(tmp, 'small');
  copySubset('lfw-train', 5, src);
  execFileSync('tar', ['-czf', path.join(tmp, 'served', 'small.tar.gz'), '-C', tmp, 'small']);
  const r = await fetchDataset(store, { source: { kind: 'folder', location: `${baseUrl}/small.tar.gz` } }, ctx());
  assert.match(r.datasetId, /^folder-[0-9a-f]{12}$/);
  const raw = await store.getJson<RawManifest>(r.manifestKey);
  const expected = execFileSync('find', [src, '-type', 'f']).toString().trim().split('\n').length;
  assert.equal(raw.images.length, expected);
  assert.ok(raw.images.every((i) => i.path.startsWith('small/') && i.id === `${i.identity}/${path.basename(i.path)}`));

  const face = fs.readFileSync(path.join(SHARED, 'lfw-train', 'Aaron_Peirsol', 'Aaron_Peirsol_0001.jpg'));
  writeZip(path.join(tmp, 'served', 'evil.zip'), [
    { name: 'Aaron/Aaron_1.jpg', data: face },
    { name: '../evil', data: Buffer.from('overwrite me') },
  ]);
  await assert.rejects(
    fetchDataset(store, { source: { kind: 'folder', location: `${baseUrl}/evil.zip` }, datasetId: 'evil' }, ctx()),
    (e: unknown) => e instanceof SiamfaceError && e.code === 'unsafe_archive' && e.permanent && /'\.\.\/evil'/.test(e.message),
  );
  assert.deepEqual(await store.listAll('datasets/evil/'), []);
  assert.ok((await store.listAll('datasets/lfw/raw/')).length > 0, 'other datasets are untouched');
});

test('an s3:// prefix is a folder source too', async () => {
  const r = await fetchDataset(stack.store, { source: { kind: 'folder', location: `s3://${stack.s3.bucket}/datasets/lfw/raw/` }, datasetId: 'lfw-copy' }, ctx());
  const original = await stack.store.getJson<RawManifest>('datasets/lfw/raw/_manifest.json');
  assert.deepEqual(
    (await stack.store.getJson<RawManifest>(r.manifestKey)).images.map((i) => i.id),
    original.images.map((i) => i.id),
  );
});

test('another preprocessing or pairs config gets its own shard and pair sets; the first stays byte-identical', async () => {
  const store = stack.store;
  const input64 = { datasetId: 'lfw', imageSize: 64, shardSize: 100, maxBadFraction: 0.01 };
  const first = await shardDataset(store, input64, ctx());
  const firstPairs = await generatePairs(store, { datasetId: 'lfw', manifestKey: first.manifestKey, pairsPerSplit: { train: 400, val: 60, test: 60 }, seed: 5 }, ctx());
  const manifest64 = await store.getJson<DatasetManifest>(first.manifestKey);
  const before = new Map((await store.listAll('datasets/lfw/')).map((o) => [o.key, o.etag]));

  const other = await shardDataset(store, { ...input64, imageSize: 32, shardSize: 60 }, ctx());
  const otherPairs = await generatePairs(store, { datasetId: 'lfw', manifestKey: other.manifestKey, pairsPerSplit: { train: 100, val: 20, test: 20 }, seed: 5 }, ctx());
  assert.notEqual(other.manifestKey, first.manifestKey);
  assert.ok(other.shardsWritten > 0);
  assert.notDeepEqual(Object.values(otherPairs.pairsKeys), Object.values(firstPairs.pairsKeys));
  // Same shards, other pairs config: only the pairs are new.
  const morePairs = await generatePairs(store, { datasetId: 'lfw', manifestKey: first.manifestKey, pairsPerSplit: 30, seed: 5 }, ctx());
  assert.equal(morePairs.written, true);
  assert.notEqual(morePairs.pairsKeys.train, firstPairs.pairsKeys.train);

  const after = new Map((await store.listAll('datasets/lfw/')).map((o) => [o.key, o.etag]));
  for (const [key, etag] of before) assert.equal(after.get(key), etag, `${key} is unchanged`);
  const manifest32 = await store.getJson<DatasetManifest>(other.manifestKey);
  assert.equal(manifest32.config.imageSize, 32);
  assert.ok(manifest32.shards.every((s) => s.key.startsWith(`datasets/lfw/shards/${manifest32.configHash}/`) && s.etag));
  const { pairCounts } = await checkDatasetConsistency(store, other, otherPairs);
  assert.deepEqual(pairCounts.train, { same: 50, different: 50 });
  await checkDatasetConsistency(store, first, firstPairs);

  // A shard changed in place after its manifest was written is never read as if it were the recorded one.
  const listing = manifest64.shards.find((s) => s.split === 'train')!;
  const source = await ShardImageSource.open(store, first.manifestKey, { imageSize: 64, decodedCacheImages: 0, shardCacheBytes: 0 });
  assert.equal(source.stats.mode, 'ranged');
  const someImage = (await readShardIndex(store, listing.index)).entries[0].imageId;
  assert.equal((await source.rgb(someImage)).length, 64 * 64 * 3);
  const original = await store.getBuffer(listing.key);
  try {
    await store.putObject(listing.key, Buffer.concat([original, Buffer.alloc(512)]));
    const fresh = await ShardImageSource.open(store, first.manifestKey, { imageSize: 64, decodedCacheImages: 0, shardCacheBytes: 0 });
    await assert.rejects(
      fresh.rgb(someImage),
      (e: unknown) => e instanceof SiamfaceError && e.code === 'checksum_mismatch' && e.message.includes(listing.key) && /changed since the dataset manifest/.test(e.message),
    );
  } finally {
    await store.putObject(listing.key, original, { metadata: { sha256: listing.sha256, 'config-hash': manifest64.configHash }, contentType: 'application/x-tar' });
  }
});
