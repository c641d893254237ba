/**
 * Attack suite, pipeline inputs: trainingPipeline workflows on the real stack (real Temporal, real MinIO, a real CPU
 * worker process with its own log) whose input tries to make the worker read what it must not: local paths outside
 * the dataset roots (absolute, `../`, a symlink out of a folder), another bucket, the cloud metadata address, a
 * Kaggle endpoint of the caller's choosing, a credentials file as identity file, a weights cache key, `__proto__`,
 * a zip bomb and a tar bomb. Each is refused with an error naming the input and the rule; nothing is written under
 * datasets/; and no credential the worker holds (its S3 secret, the Kaggle key it read from kaggle.json) appears
 * in any history, in its log or in any object of the bucket: all asserted by reading them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { useStack, type TestStack } from '../../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { sharedSet, subsetOf } from '../../support/shared-data';
import { testInputDir } from '../../support/test-policy';
import { tinyPipelineConfig } from '../../support/pipeline-fixtures';
import { ZipFileWriter } from '../../support/zip-writer';
import { localRunContext } from '../../../lib/progress';
import { SiamfaceError } from '../../../lib/errors';
import { fetchDataset } from '../../../lib/data/fetch-dataset';
import { ObjectStore } from '../../../lib/storage/object-store';
import { trainingPipeline } from '../../../workflows/training-pipeline';

const FILE_KAGGLE_KEY = 'kaggle-file-key-never-leaks-4242';
const ARCHIVE_CAP = 32 * 1024 * 1024;

let stack: TestStack;
let worker: WorkerProcess;
let queues: { cpu: string; gpu: string };
let inputs: string;
let dataset: string;
let otherBucket: ObjectStore;
let server: http.Server;
let base: string;
const handles: WorkflowHandle[] = [];

before(async () => {
  stack = await useStack('sec-pipeline');
  queues = { cpu: stack.queue('cpu'), gpu: stack.queue('gpu') };
  inputs = testInputDir('attacks');
  dataset = subsetOf('lfw-train', { identities: 4, minImages: 2, maxImages: 2 });
  // The worker's Kaggle credentials live in a kaggle.json (not the environment): the redaction must know that key too.
  const kaggleDir = path.join(inputs, 'kaggle-config');
  fs.mkdirSync(kaggleDir);
  fs.writeFileSync(path.join(kaggleDir, 'kaggle.json'), JSON.stringify({ username: 'sec-tester', key: FILE_KAGGLE_KEY }));
  // The same file inside an allowed root, named as an identity file: its parse error must not quote it.
  fs.copyFileSync(path.join(kaggleDir, 'kaggle.json'), path.join(inputs, 'kaggle-copy.json'));
  // A folder source that is a symlink out of the allowed roots, and a folder whose identity holds a link out.
  fs.symlinkSync('/etc', path.join(inputs, 'escape'));
  const linkedFolder = path.join(inputs, 'linked');
  fs.cpSync(dataset, linkedFolder, { recursive: true });
  fs.symlinkSync('/etc/hostname', path.join(linkedFolder, fs.readdirSync(linkedFolder)[0], 'stolen.jpg'));
  // Another bucket with something secret in it.
  otherBucket = new ObjectStore({ ...stack.s3, bucket: `${stack.s3.bucket.slice(0, 50)}-other` });
  await otherBucket.ensureBucket();
  await otherBucket.putObject('secret/a/1.jpg', fs.readFileSync(path.join(sharedSet('lfw-train'), 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg')));
  // Bombs: small on the wire, far beyond the worker's archive cap once expanded.
  const zipBomb = path.join(inputs, 'bomb.zip');
  const zip = new ZipFileWriter(zipBomb);
  for (let i = 0; i < 3; i++) zip.add({ name: `p${i}/x${i}.jpg`, data: Buffer.alloc(16 * 1024 * 1024), deflate: true });
  zip.close();
  const tarBomb = path.join(inputs, 'bomb.tar.gz');
  await new Promise<void>((resolve, reject) => {
    const pack = tar.pack();
    const out = fs.createWriteStream(tarBomb);
    pack.pipe(createGzip()).pipe(out).on('finish', resolve).on('error', reject);
    const entry = pack.entry({ name: 'p/huge.jpg', size: 48 * 1024 * 1024 }, (err) => (err ? reject(err) : pack.finalize()));
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 48; i++) entry.write(zeros);
    entry.end(Buffer.alloc(0));
  });
  server = http.createServer((req, res) => {
    const file = req.url === '/bomb.zip' ? zipBomb : req.url === '/bomb.tar.gz' ? tarBomb : undefined;
    if (req.url?.startsWith('/api/v1/')) return void res.writeHead(401).end('{"message":"Unauthenticated"}');
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  worker = startWorkerProcess('cpu', {
    info: stack.info,
    s3: stack.s3,
    queues,
    logDir: testInputDir('attack-logs'),
    name: 'attack-cpu',
    env: { KAGGLE_USERNAME: '', KAGGLE_KEY: '', KAGGLE_CONFIG_DIR: kaggleDir, SIAMFACE_TEST_KAGGLE_API_URL: `${base}/api/v1`, SIAMFACE_ARCHIVE_MAX_BYTES: String(ARCHIVE_CAP) },
  });
  await worker.ready;
});

after(async () => {
  await worker?.kill('SIGTERM');
  server?.close();
  await stack?.close();
});

/** Runs a pipeline that must fail; returns the innermost failure's type and message. */
async function refusedPipeline(name: string, overrides: Record<string, unknown>): Promise<{ type?: string; message: string }> {
  const handle = await stack.client.workflow.start(trainingPipeline, { taskQueue: queues.cpu, workflowId: `attack-${name}-${Date.now()}`, args: [tinyPipelineConfig(dataset, queues, overrides)] });
  handles.push(handle);
  try {
    await handle.result();
  } catch (err) {
    assert.ok(err instanceof WorkflowFailedError, String(err));
    let e: (Error & { type?: string; cause?: unknown }) | undefined = err.cause as Error & { type?: string };
    while (e?.cause) e = e.cause as Error & { type?: string; cause?: unknown };
    return { type: e?.type, message: e?.message ?? '' };
  }
  assert.fail(`${name}: the pipeline was expected to be refused`);
}

const source = (location: string, extra: Record<string, unknown> = {}) => ({ dataset: { source: { kind: 'folder', location, ...extra } } });

async function nothingWritten(): Promise<void> {
  assert.deepEqual((await stack.store.listAll('datasets/')).map((o) => o.key), [], 'nothing under datasets/');
}

test('local paths outside the dataset roots: absolute, ../ and a symlinked folder are refused, naming the input and the rule', async () => {
  for (const [name, location] of [
    ['absolute', '/etc'],
    ['dotdot', `${sharedSet('lfw-train')}/../../../../etc`],
    ['home-secrets', path.join(process.env.HOME ?? '/root', '.aws')],
    ['symlink', path.join(inputs, 'escape')],
  ] as const) {
    const f = await refusedPipeline(name, source(location));
    assert.equal(f.type, 'forbidden', `${name}: ${f.message}`);
    assert.match(f.message, /dataset\.source\.location/);
    assert.match(f.message, /SIAMFACE_DATASET_ROOTS/);
    if (name === 'symlink') assert.match(f.message, /through a symlink/);
  }
  await nothingWritten();
});

test('a symlink inside an allowed folder is not followed: the file it points to is never copied', async () => {
  const r = await fetchDataset(stack.store, { source: { kind: 'folder', location: path.join(inputs, 'linked') }, datasetId: 'linked' }, localRunContext());
  const raw = await stack.store.listAll('datasets/linked/raw/');
  assert.ok(!raw.some((o) => o.key.endsWith('stolen.jpg')), 'the link target was not uploaded');
  const manifest = JSON.parse((await stack.store.getBuffer(r.manifestKey)).toString()) as { skipped: { path: string; reason: string }[] };
  assert.ok(manifest.skipped.some((s) => s.path.endsWith('stolen.jpg') && /symlink not followed/.test(s.reason)));
  await stack.store.deletePrefix('datasets/');
});

test('another bucket is refused (read prefixes), and so is the cloud metadata address, before any request', async () => {
  const s3 = await refusedPipeline('other-bucket', source(otherBucket.uri('secret/')));
  assert.equal(s3.type, 'forbidden');
  assert.match(s3.message, /dataset\.source\.location s3:\/\/.*-other\/secret\/ is refused/);
  assert.match(s3.message, /SIAMFACE_S3_READ_PREFIXES/);
  const meta = await refusedPipeline('metadata', source('http://169.254.169.254/latest/meta-data/faces.zip'));
  assert.equal(meta.type, 'forbidden');
  assert.match(meta.message, /169\.254\.169\.254, a linkLocal address/);
  await nothingWritten();
});

test('the Kaggle endpoint cannot come from the input; a wrong key answers bad_credentials without the key', async () => {
  const ids = path.join(sharedSet('celeba-wild'), 'identity_CelebA.txt');
  const f = await refusedPipeline('kaggle-endpoint', { dataset: { source: { kind: 'kaggle-celeba', identityFile: ids, apiBaseUrl: `${base}/steal` } } });
  assert.equal(f.type, 'forbidden');
  assert.match(f.message, /dataset\.source\.apiBaseUrl is refused: the Kaggle API endpoint is worker configuration \(SIAMFACE_KAGGLE_API_URL\)/);
  // The worker's own (test) endpoint refuses the key it read from kaggle.json.
  const { createHash } = await import('node:crypto');
  const md5 = createHash('md5').update(fs.readFileSync(ids)).digest('hex');
  const creds = await refusedPipeline('kaggle-wrong-key', { dataset: { source: { kind: 'kaggle-celeba', identityFile: ids, identityFileMd5: md5 } } });
  assert.equal(creds.type, 'bad_credentials');
  assert.match(creds.message, /Kaggle refused the credentials of user 'sec-tester' \(401\)/);
  await nothingWritten();
});

test('missing Kaggle credentials: bad_credentials saying what to set, nothing written', async () => {
  const names = ['KAGGLE_USERNAME', 'KAGGLE_KEY', 'KAGGLE_CONFIG_DIR', 'SIAMFACE_TEST_KAGGLE_API_URL'] as const;
  const saved = names.map((n) => process.env[n]);
  Object.assign(process.env, { KAGGLE_USERNAME: '', KAGGLE_KEY: '', KAGGLE_CONFIG_DIR: testInputDir('no-kaggle'), SIAMFACE_TEST_KAGGLE_API_URL: `${base}/api/v1` });
  try {
    const ids = path.join(sharedSet('celeba-wild'), 'identity_CelebA.txt');
    await assert.rejects(fetchDataset(stack.store, { source: { kind: 'kaggle-celeba', identityFile: ids, identityFileMd5: (await import('node:crypto')).createHash('md5').update(fs.readFileSync(ids)).digest('hex') }, datasetId: 'no-creds' }, localRunContext()), (e: unknown) => {
      assert.ok(e instanceof SiamfaceError && e.code === 'bad_credentials', String(e));
      assert.match(e.message, /no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY/);
      return true;
    });
  } finally {
    names.forEach((n, i) => (saved[i] === undefined ? delete process.env[n] : (process.env[n] = saved[i])));
  }
  await nothingWritten();
});

test('a credentials file given as identity file: the parse error names the line, never its contents', async () => {
  const f = await refusedPipeline('identity-kaggle-json', source(dataset, { identityFile: path.join(inputs, 'kaggle-copy.json') }));
  assert.equal(f.type, 'bad_input');
  assert.match(f.message, /kaggle-copy\.json line 1: expected '<file> <identity_id>', got 1 fields/);
  assert.ok(!f.message.includes(FILE_KAGGLE_KEY) && !f.message.includes('sec-tester'));
  await nothingWritten();
});

test('zip bomb and tar bomb: refused as unsafe archives from their declared sizes, nothing extracted', async () => {
  for (const bomb of ['bomb.zip', 'bomb.tar.gz']) {
    const f = await refusedPipeline(bomb.replace(/\W/g, '-'), source(`${base}/${bomb}`));
    assert.equal(f.type, 'unsafe_archive', f.message);
    assert.match(f.message, new RegExp(`archive ${base.replace(/[.:/]/g, '\\$&')}/${bomb.replace('.', '\\.')} is refused: its entries expand to more than ${ARCHIVE_CAP} bytes \\(SIAMFACE_ARCHIVE_MAX_BYTES\\)`));
  }
  await nothingWritten();
});

test('config: a weights cache key and __proto__ are refused by name', async () => {
  const w = await refusedPipeline('cache-key', { training: { weights: { kind: 'imagenet', location: `${base}/w.h5`, cacheKey: 'models/tiny/versions/9/weights.bin' } } });
  assert.equal(w.type, 'bad_input');
  assert.match(w.message, /unknown field 'weights\.cacheKey'/);
  const proto = await refusedPipeline('proto', JSON.parse('{"preprocessing": {"__proto__": {"imageSize": 32}}}') as Record<string, unknown>);
  assert.equal(proto.type, 'bad_input');
  assert.match(proto.message, /preprocessing\.__proto__: unknown field/);
  assert.deepEqual(await stack.store.listAll('models/'), []);
});

test('no credential of the worker appears in any history, in its log or in the bucket', async () => {
  const secrets = [stack.s3.secretAccessKey, FILE_KAGGLE_KEY, Buffer.from(`sec-tester:${FILE_KAGGLE_KEY}`).toString('base64')];
  assert.ok(handles.length >= 10);
  for (const h of handles) {
    const history = JSON.stringify(await h.fetchHistory(), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
    for (const s of secrets) assert.ok(!history.includes(s), `history of ${h.workflowId} holds a secret`);
  }
  const log = fs.readFileSync(worker.logFile, 'utf8');
  assert.match(log, /polling task queue/, 'the log is the worker\'s');
  for (const s of secrets) assert.ok(!log.includes(s), 'the worker log holds a secret');
  for (const o of await stack.store.listAll('')) {
    const body = (await stack.store.getBuffer(o.key)).toString('latin1');
    for (const s of secrets) assert.ok(!body.includes(s), `${o.key} holds a secret`);
  }
});
