/**
 * fetchDataset's Kaggle path for real, against a loopback server that behaves like Kaggle's download endpoint
 * (basic auth, 401/403/404, a redirect to a storage URL on another origin) and serves a zip in the exact layout of
 * jessicali9530/celeba-dataset, built at test time from a subset of shared/data/celeba-wild.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { useStack, type TestStack } from '../../support/stack';
import { ZipFileWriter } from '../../support/zip-writer';
import { startKaggleEndpoint, type KaggleEndpoint } from '../../support/kaggle-endpoint';
import { localRunContext } from '../../../lib/progress';
import { SiamfaceError } from '../../../lib/errors';
import { md5Hex } from '../../../lib/data/identity-file';
import { fetchDataset } from '../../../lib/data/fetch-dataset';
import { shardDataset } from '../../../lib/data/shard-dataset';
import { generatePairs } from '../../../lib/data/generate-pairs';
import type { RawManifest } from '../../../lib/data/raw-manifest';
import type { KaggleCelebaSource } from '../../../lib/data/sources';
import { checkDatasetConsistency, SHARED } from './helpers';

const WILD = path.join(SHARED, 'celeba-wild');
const IDENTITY_FILE = path.join(WILD, 'identity_CelebA.txt');
const USER = 'kaggle-tester';
const KEY = 'k3y-that-must-never-leak-0123456789';
const SUBSET_IDENTITIES = 24;

let stack: TestStack;
let tmp: string;
let apiBase: string;
let zipFile: string;
let zipImages: string[];
let kaggle: KaggleEndpoint;
let requests: KaggleEndpoint['requests'];

/** Official partition rule of CelebA: 1-162770 train, 162771-182637 val, 182638-202599 test. */
const officialPartition = (file: string) => {
  const n = Number(file.slice(0, 6));
  return n <= 162770 ? 0 : n <= 182637 ? 1 : 2;
};

function buildKaggleZip(file: string): string[] {
  const folders = fs.readdirSync(WILD).filter((d) => /^\d{5}$/.test(d)).sort().slice(0, SUBSET_IDENTITIES);
  const images = folders.flatMap((d) => fs.readdirSync(path.join(WILD, d)).map((f) => ({ f, p: path.join(WILD, d, f) }))).sort((a, b) => (a.f < b.f ? -1 : 1));
  const zip = new ZipFileWriter(file);
  zip.add({ name: 'img_align_celeba/', data: Buffer.alloc(0) });
  zip.add({ name: 'img_align_celeba/img_align_celeba/', data: Buffer.alloc(0) });
  // Stored and deflated entries both (Kaggle's own zip deflates); the shard stage reads either from the kept archive.
  images.forEach(({ f, p }, i) => zip.add({ name: `img_align_celeba/img_align_celeba/${f}`, data: fs.readFileSync(p), deflate: i % 2 === 1 }));
  const rows = (header: string, row: (f: string) => string) => Buffer.from([header, ...images.map(({ f }) => row(f))].join('\r\n') + '\r\n');
  zip.add({ name: 'list_eval_partition.csv', data: rows('image_id,partition', (f) => `${f},${officialPartition(f)}`) });
  zip.add({ name: 'list_attr_celeba.csv', data: rows('image_id,5_o_Clock_Shadow,Smiling', (f) => `${f},-1,1`) });
  zip.add({ name: 'list_bbox_celeba.csv', data: rows('image_id,x_1,y_1,width,height', (f) => `${f},95,71,226,313`) });
  zip.add({ name: 'list_landmarks_align_celeba.csv', data: rows('image_id,lefteye_x,lefteye_y,righteye_x,righteye_y,nose_x,nose_y,leftmouth_x,leftmouth_y,rightmouth_x,rightmouth_y', (f) => `${f},69,109,106,113,77,142,73,152,108,154`) });
  zip.close();
  return images.map((i) => i.f);
}

before(async () => {
  stack = await useStack('data-kaggle');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-kaggle-'));
  zipFile = path.join(tmp, 'archive.zip');
  zipImages = buildKaggleZip(zipFile);
  kaggle = await startKaggleEndpoint({ zipFile, user: USER, key: KEY });
  requests = kaggle.requests;
  apiBase = kaggle.apiBase;
  // The endpoint is worker configuration; the test override must be a loopback address.
  process.env.SIAMFACE_TEST_KAGGLE_API_URL = apiBase;
  process.env.KAGGLE_USERNAME = USER;
  process.env.KAGGLE_KEY = KEY;
});

after(async () => {
  await kaggle?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  await stack?.close();
});

const source = (extra: Partial<KaggleCelebaSource> = {}): KaggleCelebaSource => ({
  kind: 'kaggle-celeba',
  identityFile: IDENTITY_FILE,
  identityFileMd5: md5Hex(fs.readFileSync(IDENTITY_FILE)),
  ...extra,
});

test('Kaggle CelebA: download, identities from identity_CelebA.txt, shards and pairs; second run does no work', async () => {
  const store = stack.store;
  const ctx = localRunContext();
  const fetched = await fetchDataset(store, { source: source(), datasetId: 'celeba', tmpDir: tmp }, ctx);
  assert.equal(requests.downloads, 1);
  assert.equal(requests.authSeenByStorage, 0, 'credentials are not sent to the storage URL');
  assert.equal(fetched.images, zipImages.length);
  const raw = await store.getJson<RawManifest>(fetched.manifestKey);
  const labels = new Map(fs.readFileSync(IDENTITY_FILE, 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]));
  for (const img of raw.images) {
    const file = path.basename(img.path);
    assert.equal(img.id, `${labels.get(file)}/${file}`);
    assert.equal(img.path, `img_align_celeba/img_align_celeba/${file}`);
  }
  assert.equal(raw.partitionFile, 'list_eval_partition.csv');
  // The zip is kept whole: the images stay inside it, not one object each.
  const archive = '_archive/jessicali9530__celeba-dataset.zip';
  assert.deepEqual(raw.files.map((f) => f.path).sort(), [archive, 'identity_CelebA.txt', 'list_attr_celeba.csv', 'list_bbox_celeba.csv', 'list_eval_partition.csv', 'list_landmarks_align_celeba.csv']);
  assert.equal((await store.head(`datasets/celeba/raw/${archive}`))?.size, fs.statSync(zipFile).size);
  assert.deepEqual(await store.listAll('datasets/celeba/raw/img_align_celeba/'), []);
  assert.ok(raw.images.every((i) => i.archived?.archive === archive));
  assert.deepEqual([...new Set(raw.images.map((i) => i.archived!.method))].sort(), [0, 8]);
  assert.ok(!fs.existsSync(path.join(tmp, 'siamface-fetch', 'celeba')), 'the downloaded archive is removed');
  const everything = await store.listAll('');
  for (const o of everything.filter((o) => o.key.endsWith('.json') || o.key.endsWith('.csv') || o.key.endsWith('.txt'))) {
    assert.ok(!(await store.getBuffer(o.key)).toString('utf8').includes(KEY), `${o.key} does not contain the Kaggle key`);
  }

  const sharded = await shardDataset(store, { datasetId: 'celeba', imageSize: 64, shardSize: 64 }, ctx);
  assert.equal(sharded.skippedImages, 0);
  const pairs = await generatePairs(store, { datasetId: 'celeba', manifestKey: sharded.manifestKey, pairsPerSplit: { train: 200, val: 40, test: 40 } }, ctx);
  const { manifest, identitySplit } = await checkDatasetConsistency(store, sharded, pairs);
  assert.equal(identitySplit.size, SUBSET_IDENTITIES);
  const part = manifest.celebaPartition!;
  assert.equal(part.partitions.train.images + part.partitions.val.images + part.partitions.test.images, zipImages.length);
  assert.equal(part.imagesWithoutPartition, 0);

  const again = await fetchDataset(store, { source: source(), datasetId: 'celeba', tmpDir: tmp }, ctx);
  assert.equal(again.uploaded, 0);
  assert.equal(requests.downloads, 1, 'second run downloads nothing');
  assert.equal((await shardDataset(store, { datasetId: 'celeba', imageSize: 64, shardSize: 64 }, ctx)).shardsWritten, 0);
});

test('maxImages keeps the first N labelled images by file name; a small subset is copied image by image, not the whole zip', async () => {
  const r = await fetchDataset(stack.store, { source: source({ maxImages: 10 }), tmpDir: tmp }, localRunContext());
  const raw = await stack.store.getJson<RawManifest>(r.manifestKey);
  assert.deepEqual(raw.images.map((i) => path.basename(i.path)).sort(), zipImages.slice(0, 10));
  assert.ok(raw.images.every((i) => i.archived === undefined));
  assert.ok(!raw.files.some((f) => f.path.startsWith('_archive/')));
  for (const img of raw.images) assert.ok(await stack.store.exists(`${r.rawPrefix}${img.path}`), img.path);
});

test('an archive replaced under the data set is caught by the zip directory check, naming the entry', async () => {
  const store = stack.store;
  const ctx = localRunContext();
  const fetched = await fetchDataset(store, { source: source(), datasetId: 'celeba-tamper', tmpDir: tmp }, ctx);
  const raw = await store.getJson<RawManifest>(fetched.manifestKey);
  const victim = raw.images.find((i) => i.archived!.method === 0)!;
  const key = `${fetched.rawPrefix}${victim.archived!.archive}`;
  const bytes = await store.getBuffer(key);
  bytes[victim.archived!.offset + 100] ^= 0xff; // same size, one byte of one stored image changed
  await store.putObject(key, bytes);
  await assert.rejects(shardDataset(store, { datasetId: 'celeba-tamper', imageSize: 64, shardSize: 64 }, ctx), (err: unknown) => {
    assert.ok(err instanceof SiamfaceError);
    assert.equal(err.code, 'bad_input');
    assert.ok(err.message.includes(victim.path), err.message);
    assert.match(err.message, /does not match its zip directory.*Fetch the data set again/);
    return true;
  });
});

const failsWith = (code: string, ...patterns: RegExp[]) => (e: unknown) => {
  assert.ok(e instanceof SiamfaceError, String(e));
  assert.equal(e.code, code);
  assert.equal(e.permanent, true);
  for (const p of patterns) assert.match(e.message, p);
  assert.ok(!e.message.includes(KEY), 'the message does not contain the key');
  return true;
};

test('wrong Kaggle credentials: permanent bad_credentials telling to check them; nothing stored', async () => {
  process.env.KAGGLE_KEY = 'wrong-key-000000';
  try {
    await assert.rejects(fetchDataset(stack.store, { source: source(), datasetId: 'celeba-badcreds', tmpDir: tmp }, localRunContext()), failsWith('bad_credentials', /401/, /check KAGGLE_USERNAME\/KAGGLE_KEY/));
  } finally {
    process.env.KAGGLE_KEY = KEY;
  }
  assert.deepEqual(await stack.store.listAll('datasets/celeba-badcreds/'), []);
});

test('Kaggle 403 and 404 have documented outcomes', async () => {
  await assert.rejects(fetchDataset(stack.store, { source: source({ dataset: 'someone/private-dataset' }), tmpDir: tmp }, localRunContext()), failsWith('bad_credentials', /403/, /accept the dataset's terms/));
  await assert.rejects(fetchDataset(stack.store, { source: source({ dataset: 'nobody/missing' }), tmpDir: tmp }, localRunContext()), failsWith('not_found', /nobody\/missing does not exist/));
});

test('an identity file with the wrong MD5 fails before anything is downloaded', async () => {
  const downloads = requests.downloads;
  const apiCalls = requests.api;
  // Default expectation: the official file's MD5; celeba-wild's subset does not match it.
  await assert.rejects(
    fetchDataset(stack.store, { source: { kind: 'kaggle-celeba', identityFile: IDENTITY_FILE }, datasetId: 'celeba-md5', tmpDir: tmp }, localRunContext()),
    failsWith('checksum_mismatch', /identity_CelebA\.txt has MD5/, /32bd1bd63d3c78cd57e08160ec5ed1e2/),
  );
  assert.equal(requests.downloads, downloads);
  assert.equal(requests.api, apiCalls);
  assert.deepEqual(await stack.store.listAll('datasets/celeba-md5/'), []);
});

test('a download cut off part-way resumes with a Range request on the next attempt, and the data set is complete', async () => {
  const size = fs.statSync(zipFile).size;
  const ctx = localRunContext();
  const fresh = { source: source(), datasetId: 'celeba-resume', tmpDir: path.join(tmp, 'resume') };
  kaggle.breakNextDownloadAfter = Math.floor(size / 2);
  const rangesBefore = requests.ranges.length;
  await assert.rejects(fetchDataset(stack.store, fresh, ctx));
  assert.deepEqual(await stack.store.listAll('datasets/celeba-resume/'), [], 'a broken download stores nothing');
  const resumed = await fetchDataset(stack.store, fresh, ctx);
  const asked = requests.ranges.slice(rangesBefore);
  assert.equal(asked.length, 1, `one resumed request: ${asked.join(', ')}`);
  const from = Number(/^bytes=(\d+)-$/.exec(asked[0])![1]);
  // From what reached the disk before the cut: more than nothing, no more than was sent (the cut point plus one chunk).
  assert.ok(from > 0 && from <= Math.floor(size / 2) + 65536, `resumed from byte ${from} of ${size}`);
  assert.equal(resumed.images, zipImages.length);
  const sharded = await shardDataset(stack.store, { datasetId: 'celeba-resume', imageSize: 64, shardSize: 64 }, ctx);
  assert.equal(sharded.images, zipImages.length, 'every image reads back from the resumed archive (CRC-checked)');
});
