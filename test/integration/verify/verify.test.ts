/**
 * Verification on the real stack with a really trained and promoted tiny model (the full
 * trainingPipeline on an LFW subset, in-process workers, ~20 s): ONNX export at promotion, verify on
 * real faces-dev photos with detection + alignment, per-image errors, the CLI's exit codes, and batch
 * jobs (bad rows, continue-as-new, a SIGKILLed worker) yielding exactly one result per input row.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import sharp from 'sharp';
import { MockActivityEnvironment } from '@temporalio/testing';
import { cliEnv, useStack, type TestStack } from '../../support/stack';
import { sharedPairs, sharedSet, subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig } from '../../support/pipeline-fixtures';
import { testInputDir } from '../../support/test-policy';
import { cpuActivities } from '../../../activities';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { ensureOnnxExport, readOnnxRecord, onnxKey, ONNX_PARITY_TOLERANCE } from '../../../lib/registry/onnx-artifact';
import { ModelCache } from '../../../lib/verify/model-cache';
import { productionKey } from '../../../lib/registry/keys';
import { verifyPair } from '../../../lib/verify/verify-pair';
import { ImageError } from '../../../lib/verify/prepare-image';
import { verifyChunk } from '../../../lib/verify/batch-chunk';
import { parseResultLines } from '../../../lib/verify/batch-results';
import { parseCsvRecords } from '../../../lib/data/csv';
import type { BatchSummary } from '../../../lib/verify/batch-types';
import { localRunContext } from '../../../lib/progress';
import { resultsKey, summaryKey, chunkKey } from '../../../lib/verify/job-layout';
import type { BatchVerifyInput, BatchVerifyStatus } from '../../../lib/verify/batch-status';
import type { BatchResultRow, VerifyResult } from '../../../lib/verify/types';
import { batchVerify, batchStatusQuery } from '../../../workflows/batch-verify';
import { trainingPipeline } from '../../../workflows/training-pipeline';

const DIST = path.resolve(__dirname, '..', '..', '..');
let stack: TestStack;
let inProcess: InProcessWorkers | undefined;
let model: { name: string; version: number };
let queues: { cpu: string; gpu: string };
const children: ChildProcess[] = [];
const tmp = testInputDir('verify');

before(async () => {
  stack = await useStack('verify');
  inProcess = await startInProcessWorkers(stack);
  queues = inProcess.queues;
  const dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
  const result = (await stack.client.workflow.execute(trainingPipeline, {
    taskQueue: queues.cpu,
    workflowId: `verify-train-${Date.now()}`,
    args: [tinyPipelineConfig(dataset, queues)],
  })) as { promotion: { outcome: string; version: number } };
  assert.equal(result.promotion.outcome, 'promoted');
  model = { name: 'tiny', version: result.promotion.version };
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await inProcess?.stop();
  await stack?.close();
});

const facesDev = () => sharedSet('faces-dev');

test('promotion exported the model to ONNX after a parity check, and both engines give the same distance', async () => {
  const record = await readOnnxRecord(stack.store, model.name, model.version);
  assert.equal(record?.status, 'ready', JSON.stringify(record));
  assert.ok(record.status === 'ready' && record.parity.maxAbsDiff < ONNX_PARITY_TOLERANCE);
  assert.ok(await stack.store.exists(onnxKey(model.name, model.version)));

  const lfw = sharedSet('lfw-train');
  const a = path.join(lfw, 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg');
  const b = path.join(lfw, 'Abel_Pacheco', 'Abel_Pacheco_0004.jpg');
  const onnx = new ModelCache(stack.store, { engine: 'onnx' });
  const tfjs = new ModelCache(stack.store, { engine: 'tfjs' });
  try {
    const r1 = await verifyPair({ a, b, model: { name: model.name } }, { models: onnx });
    const r2 = await verifyPair({ a, b, model }, { models: tfjs });
    assert.equal(r1.model.engine, 'onnx');
    assert.equal(r2.model.engine, 'tfjs');
    assert.deepEqual(r1.model.version, model.version, 'no version given: the production one');
    assert.ok(Math.abs(r1.distance - r2.distance) < 1e-4, `onnx ${r1.distance} vs tfjs ${r2.distance}`);
    assert.deepEqual(r1.faces, [null, null], 'an LFW-trained (dataset-crop) model skips detection in auto mode');
    // The default card threshold and calibration are used.
    const card = (await onnx.get(model)).card;
    assert.equal(r1.threshold, card.evaluation.threshold);
    assert.equal(r1.verified, r1.distance <= r1.threshold);
    assert.ok(r1.confidence >= 0 && r1.confidence <= 1);
    // Bytes and s3:// inputs give the same embedding as the path.
    await stack.store.putObject('inputs/b.jpg', fs.readFileSync(b));
    const r3 = await verifyPair({ a: fs.readFileSync(a), b: stack.store.uri('inputs/b.jpg'), model }, { models: onnx, store: stack.store });
    assert.ok(Math.abs(r3.distance - r1.distance) < 1e-6);
    // http(s):// inputs, through the verifyPair activity.
    const server = http.createServer((req, res) => {
      if (req.url === '/b.jpg') res.end(fs.readFileSync(b));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const acts = cpuActivities({ store: stack.store });
      const r4 = (await new MockActivityEnvironment().run(acts.verifyPair, { a: { base64: fs.readFileSync(a).toString('base64') }, b: `${url}/b.jpg`, model })) as VerifyResult;
      assert.ok(Math.abs(r4.distance - r1.distance) < 1e-6);
      await assert.rejects(new MockActivityEnvironment().run(acts.verifyPair, { a, b: `${url}/missing.jpg`, model }), (err: Error & { type?: string; nonRetryable?: boolean }) => {
        assert.equal(err.type, 'not_found');
        assert.equal(err.nonRetryable, true);
        return true;
      });
    } finally {
      server.close();
    }
  } finally {
    await onnx.dispose();
    await tfjs.dispose();
  }
});

test('an ONNX export that fails is recorded once with its reason and writes no file; a ready export is reused, not redone', async () => {
  await stack.store.putJson('models/broken/versions/1/model.json', { modelTopology: { class_name: 'Nope' }, weightsManifest: [] });
  const ctx = localRunContext();
  const record = await ensureOnnxExport(stack.store, 'broken', 1, ctx);
  assert.equal(record.status, 'failed');
  assert.ok(record.status === 'failed' && record.reason.length > 0);
  assert.equal(await stack.store.exists(onnxKey('broken', 1)), false, 'no ONNX file written');
  assert.deepEqual(await ensureOnnxExport(stack.store, 'broken', 1, ctx), record, 'recorded once, not retried on every promotion');
  // The ready version of the trained model: the record is reused, not re-exported.
  const ready = await readOnnxRecord(stack.store, model.name, model.version);
  assert.deepEqual(await ensureOnnxExport(stack.store, model.name, model.version, ctx), ready);
});

test('the model cache re-reads production.json at most every TTL, so a promotion is picked up without a restart', async () => {
  const name = 'alias-only';
  let now = 1_000_000;
  const cache = new ModelCache(stack.store, { productionTtlMs: 5_000, now: () => now });
  await assert.rejects(cache.production(name), /has no production version/);
  const alias = (version: number) => ({ schemaVersion: 1, name, version, since: new Date().toISOString(), action: 'promote', reason: 'test', history: [] });
  const first = await stack.store.putJson(productionKey(name), alias(1), { ifNoneMatch: '*' });
  assert.equal(await cache.production(name), 1);
  await stack.store.putJson(productionKey(name), alias(2), { ifMatch: first.etag });
  now += 1_000;
  assert.equal(await cache.production(name), 1, 'still fresh: not re-read');
  now += 5_000;
  assert.equal(await cache.production(name), 2, 'stale: re-read, the promotion is seen');
  assert.deepEqual(await cache.resolve({ name, version: 7 }), { name, version: 7 }, 'an explicit version bypasses the alias');
});

test('verify with detection + alignment gives a result for every pair of a faces-dev sample', async () => {
  const sample = sharedPairs('faces-dev').filter((_, i) => i % 160 === 0); // 11 pairs: LFW crops, grey tight crops, big photos
  const models = new ModelCache(stack.store);
  try {
    for (const [a, b] of sample) {
      const line = `${a},${b}`;
      const r = await verifyPair({ a: path.join(facesDev(), a), b: path.join(facesDev(), b), model, detect: 'always' }, { models });
      assert.equal(typeof r.verified, 'boolean', line);
      assert.ok(Number.isFinite(r.distance) && r.distance >= 0 && r.distance <= 2 + 1e-6, `${line}: distance ${r.distance}`);
      for (const f of r.faces) {
        assert.ok(f, `${line}: face found`);
        assert.ok(f.score >= 0.5 && f.box.width > 10 && f.faceCount >= 1);
        assert.ok(f.landmarks.leftEye[0] < f.landmarks.rightEye[0], 'eyes in viewer order');
      }
      assert.ok(r.timings.detect > 0 && r.timings.embed > 0 && r.timings.total >= r.timings.detect);
    }
  } finally {
    await models.dispose();
  }
});

test('per-image errors: no_face for a generated faceless image, bad_image for corrupt bytes, not_found for a missing file', async () => {
  const models = new ModelCache(stack.store);
  const face = path.join(facesDev(), 'Tony_Blair', 'Tony_Blair_0009.jpg');
  const noFace = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 90, g: 140, b: 200 } } })
    .composite([{ input: Buffer.from('<svg width="320" height="240"><rect x="40" y="60" width="120" height="90" fill="#d33"/><circle cx="240" cy="120" r="50" fill="#3a3"/></svg>'), top: 0, left: 0 }])
    .jpeg()
    .toBuffer();
  const corrupt = fs.readFileSync(face).subarray(0, 600);
  const expectCode = async (b: Buffer | string, code: string) => {
    await assert.rejects(verifyPair({ a: face, b, model, detect: 'always' }, { models }), (err: unknown) => {
      assert.ok(err instanceof ImageError, String(err));
      assert.equal(err.imageCode, code);
      assert.equal(err.details?.which, 'b');
      return true;
    });
  };
  try {
    await expectCode(noFace, 'no_face');
    await expectCode(corrupt, 'bad_image');
    await expectCode(Buffer.from('not an image at all'), 'bad_image');
    await expectCode(path.join(tmp, 'missing.jpg'), 'not_found');
  } finally {
    await models.dispose();
  }
});

test('a photo with two faces: the largest one is used (documented default) and the face count is reported', async () => {
  const big = await sharp(path.join(facesDev(), 'Tony_Blair', 'Tony_Blair_0009.jpg')).resize(250, 250).toBuffer();
  const small = await sharp(path.join(facesDev(), 'Colin_Powell', 'Colin_Powell_0002.jpg')).resize(150, 150).toBuffer();
  const composite = await sharp({ create: { width: 460, height: 270, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([
      { input: big, left: 10, top: 10 },
      { input: small, left: 290, top: 60 },
    ])
    .jpeg({ quality: 95 })
    .toBuffer();
  const models = new ModelCache(stack.store);
  try {
    const r = await verifyPair({ a: composite, b: big, model, detect: 'always' }, { models });
    const f = r.faces[0]!;
    assert.equal(f.faceCount, 2);
    const cx = f.box.x + f.box.width / 2;
    assert.ok(cx < 260, `the larger face (left) was chosen, box centre x ${cx}`);
    // Same face as the lone image: closer than to the other face.
    const other = await verifyPair({ a: small, b: big, model, detect: 'always' }, { models });
    assert.ok(r.distance < other.distance, `composite->big ${r.distance} should be below small->big ${other.distance}`);
  } finally {
    await models.dispose();
  }
});

const stackEnv = (extra: Record<string, string> = {}) => cliEnv(stack, extra);

const siamfaceWith = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [path.join(DIST, 'cli', 'siamface.js'), ...args], { env: stackEnv(env), encoding: 'utf8', timeout: 120_000 });
const siamface = (...args: string[]) => siamfaceWith({}, ...args);

test('siamface verify: exit 0 (same), 1 (different), 2 (error); the result on stdout, logs and errors on stderr', () => {
  const lfw = sharedSet('lfw-train');
  const a = path.join(lfw, 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg');
  const b = path.join(lfw, 'Abel_Pacheco', 'Abel_Pacheco_0004.jpg');
  const cli = (...args: string[]) => siamface('verify', ...args);
  const same = cli(a, a, '--model', 'tiny', '--json');
  assert.equal(same.status, 0, same.stderr + same.stdout);
  const json = JSON.parse(same.stdout) as VerifyResult; // all of stdout is the one JSON document
  assert.equal(json.verified, true);
  assert.ok(json.distance < 1e-3);
  const different = cli(a, b, '--model', `tiny:${model.version}`, '--threshold', '0');
  assert.equal(different.status, 1, different.stderr + different.stdout);
  assert.match(different.stdout, /^DIFFERENT people: distance \S+ > threshold 0\.0000, .*\n$/, 'human mode: the verdict line only');
  assert.doesNotMatch(different.stderr, /DIFFERENT/);
  const missing = cli(a, path.join(tmp, 'nope.jpg'), '--model', 'tiny');
  assert.equal(missing.status, 2);
  assert.equal(missing.stdout, '', 'an error is not data');
  assert.match(missing.stderr, /error \(not_found\)/);
  const missingJson = cli(a, path.join(tmp, 'nope.jpg'), '--model', 'tiny', '--json');
  assert.equal(missingJson.status, 2);
  assert.equal(JSON.parse(missingJson.stdout).error.code, 'not_found');
});

test('siamface usage errors exit 2 naming the problem; --version exits 0', () => {
  const lfw = sharedSet('lfw-train');
  const a = path.join(lfw, 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg');
  const cases: [string[], RegExp][] = [
    [['verify', a], /missing required argument 'b'/],
    [['verify', a, a, '--threshold', 'near'], /'--threshold <distance>' argument 'near' is invalid/],
    [['verify', a, a, '--bogus'], /unknown option '--bogus'/],
    [['verify', a, a, '--engine', 'fast'], /'--engine <engine>' argument 'fast' is invalid\. Allowed choices are auto, onnx, tfjs/],
    [['batch-verify', 'pairs.csv', '--chunk-size', '0'], /'--chunk-size <n>' argument '0' is invalid\. must be a positive integer/],
    [['batch-verify', 'pairs.csv', '--concurrency', '2.5'], /'--concurrency <n>' argument '2\.5' is invalid/],
    [['models', 'promote', 'tiny', '1', '--margin', 'x'], /'--margin <number>' argument 'x' is invalid/],
    [['no-such-command'], /unknown command 'no-such-command'/],
  ];
  for (const [args, message] of cases) {
    const r = siamface(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
  const version = siamface('--version');
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), (JSON.parse(fs.readFileSync(path.join(DIST, '..', 'package.json'), 'utf8')) as { version: string }).version);
});

test('siamface verify --engine beats SIAMFACE_VERIFY_ENGINE, which beats the default (auto: ONNX when exported)', () => {
  const a = path.join(sharedSet('lfw-train'), 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg');
  const engineOf = (env: Record<string, string>, ...flags: string[]) => {
    const r = siamfaceWith(env, 'verify', a, a, '--model', 'tiny', '--json', ...flags);
    assert.equal(r.status, 0, `${JSON.stringify(env)} ${flags.join(' ')}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as VerifyResult).model.engine;
  };
  assert.equal(engineOf({}), 'onnx', 'default: auto, and the model has an ONNX export');
  assert.equal(engineOf({ SIAMFACE_VERIFY_ENGINE: 'tfjs' }), 'tfjs', 'the environment beats the default');
  assert.equal(engineOf({ SIAMFACE_VERIFY_ENGINE: 'tfjs' }, '--engine', 'onnx'), 'onnx', 'the flag beats the environment');
  assert.equal(engineOf({ SIAMFACE_VERIFY_ENGINE: 'bogus' }, '--engine', 'tfjs'), 'tfjs', 'a flag given: the environment is not read');
  const bad = siamfaceWith({ SIAMFACE_VERIFY_ENGINE: 'bogus' }, 'verify', a, a, '--model', 'tiny');
  assert.equal(bad.status, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /got "bogus" from SIAMFACE_VERIFY_ENGINE/, 'the error names where the bad value came from');
});

test('siamface verify with no --model: the only production model, or an error that lists the models', async () => {
  const lfw = sharedSet('lfw-train');
  const a = path.join(lfw, 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg');
  // 'alias-only' (the TTL test's) and 'tiny' both have a production version: no model can be chosen.
  const ambiguous = siamface('verify', a, a);
  assert.equal(ambiguous.status, 2);
  assert.match(ambiguous.stderr, /several models do \(alias-only, tiny\): name one \(--model, SIAMFACE_MODEL_NAME\)/);
  // doctor's advice is to choose one, not to train another.
  const doctor = await runChild([path.join(DIST, 'cli', 'siamface.js'), 'doctor', '--json', '--timeout', '60'], stackEnv({ SIAMFACE_CPU_TASK_QUEUE: queues.cpu, SIAMFACE_GPU_TASK_QUEUE: queues.gpu }));
  const modelCheck = (JSON.parse(doctor.stdout) as { checks: { check: string; ok: boolean; fix?: string }[] }).checks.find((c) => c.check === 'model');
  assert.equal(modelCheck?.ok, false, doctor.stdout);
  assert.match(modelCheck?.fix ?? '', /set SIAMFACE_MODEL_NAME=<name> \(or pass --model <name>/);
  await stack.store.delete(productionKey('alias-only'));
  const chosen = siamface('verify', a, a, '--json');
  assert.equal(chosen.status, 0, chosen.stderr);
  assert.equal((JSON.parse(chosen.stdout) as VerifyResult).model.name, 'tiny');
});

test('siamface doctor: every check passes on a working stack; a failing one says what to do and exits 1', async () => {
  const env = stackEnv({ SIAMFACE_CPU_TASK_QUEUE: queues.cpu, SIAMFACE_GPU_TASK_QUEUE: queues.gpu });
  // Not spawnSync: this process runs the workers the doctor's workflow needs.
  const run = (extra: Record<string, string> = {}) => runChild([path.join(DIST, 'cli', 'siamface.js'), 'doctor', '--json', '--timeout', '60'], { ...env, ...extra });
  const good = await run();
  assert.equal(good.status, 0, `stdout: ${good.stdout}\nstderr: ${good.stderr}`);
  const report = JSON.parse(good.stdout) as { ok: boolean; checks: { check: string; ok: boolean; detail: string; fix?: string }[] };
  assert.deepEqual(report.checks.map((c) => c.check), ['s3', 'temporal', 'cpu-worker', 'gpu-worker', 'workflow', 'backend', 'model']);
  assert.ok(report.ok && report.checks.every((c) => c.ok), JSON.stringify(report.checks));
  assert.match(report.checks.find((c) => c.check === 'model')!.detail, /uses tiny v\d+ by default/);

  const noWorkers = await run({ SIAMFACE_CPU_TASK_QUEUE: 'nobody-polls-this', SIAMFACE_GPU_TASK_QUEUE: 'nor-this' });
  assert.equal(noWorkers.status, 1);
  const failed = (JSON.parse(noWorkers.stdout) as typeof report).checks.filter((c) => !c.ok);
  assert.deepEqual(failed.map((c) => c.check), ['cpu-worker', 'gpu-worker']);
  assert.ok(failed.every((c) => /workers start/.test(c.fix ?? '')), JSON.stringify(failed));
});

/** A node child process, awaited without blocking this process (its in-process workers keep running). */
function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

test('siamface batch-verify uploads a local file, shows progress until done, and copies the results to --out', async () => {
  const lfw = sharedSet('lfw-train');
  const pairs = sharedPairs('lfw-train').slice(0, 30);
  const dir = fs.mkdtempSync(path.join(tmp, 'cli-'));
  // Paths stay relative: the CLI resolves them against the CSV's folder (linked identity folders here).
  for (const id of new Set(pairs.flatMap(([a, b]) => [a, b].map((p) => p.split('/')[0])))) fs.symlinkSync(path.join(lfw, id), path.join(dir, id));
  fs.writeFileSync(path.join(dir, 'pairs.csv'), `a,b,label\n${pairs.map((p) => p.join(',')).join('\n')}\n`);
  const jobId = `cli-${Date.now()}`;
  const out = `s3://${stack.s3.bucket}/exports/${jobId}/`;
  const args = [path.join(DIST, 'cli', 'siamface.js'), 'batch-verify', path.join(dir, 'pairs.csv'), '--model', 'tiny', '--chunk-size', '8', '--job-id', jobId, '--queue', queues.cpu, '--out', out];
  const run = await runChild(args, stackEnv());
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(run.stderr, new RegExp(`uploaded .*pairs.csv to s3://${stack.s3.bucket}/jobs/${jobId}/input.csv`), 'logs on stderr');
  assert.match(run.stderr, /^\[[#.]+\] /m, 'progress on stderr');
  assert.match(run.stdout, /^done: 30 pairs .*\nresults: s3:\/\/.*\n$/, 'stdout: the outcome only');
  const rows = parseResultLines((await stack.store.getBuffer(`exports/${jobId}/results.jsonl`)).toString());
  assert.equal(rows.length, 30);
  assert.ok(rows.every((r) => !('error' in r)), 'relative paths resolved against the CSV folder');
  const summary = await stack.store.getJson<BatchSummary>(`exports/${jobId}/summary.json`);
  assert.equal(summary.rows, 30);
  assert.equal(summary.labelled.rows, 30);

  // --json: all of stdout is the job's summary.json (README, "CLI conventions").
  const jsonJob = `${jobId}-json`;
  const json = await runChild([...args.slice(0, args.indexOf('--job-id')), '--job-id', jsonJob, '--queue', queues.cpu, '--json'], stackEnv());
  assert.equal(json.status, 0, json.stderr + json.stdout);
  const printed = JSON.parse(json.stdout) as BatchSummary;
  assert.deepEqual(printed, await stack.store.getJson<BatchSummary>(summaryKey(jsonJob)));
  assert.equal(printed.jobId, jsonJob);
  assert.equal(printed.rows, 30);
  assert.equal(printed.verified + printed.notVerified + printed.errors.total, 30);
  assert.deepEqual(printed.errors, { total: 0, byCode: {} });
  assert.equal(printed.labelled.rows, 30);
  assert.deepEqual(printed.model, summary.model);
  assert.equal(printed.resultsKey, resultsKey(jsonJob));
  assert.match(json.stderr, /^\[[#.]+\] /m, 'progress still on stderr');

  // --detach --json: the ids only, {jobId, workflowId, results}; the job runs on.
  const detachedJob = `${jobId}-detach`;
  const detached = await runChild([...args.slice(0, args.indexOf('--job-id')), '--job-id', detachedJob, '--queue', queues.cpu, '--detach', '--json'], stackEnv());
  assert.equal(detached.status, 0, detached.stderr + detached.stdout);
  const ids = JSON.parse(detached.stdout) as Record<string, string>;
  assert.deepEqual(ids, { jobId: detachedJob, workflowId: `batch-verify-${detachedJob}`, results: stack.store.uri(resultsKey(detachedJob)) });
  assert.equal(((await stack.client.workflow.getHandle(ids.workflowId).result()) as BatchSummary).rows, 30);
});

/** The batch input: `n` LFW pairs (relative paths) plus bad rows; returns the text and the expected error rows. */
function batchInput(n: number): { text: string; rows: number; bad: Map<number, string> } {
  const pairs = sharedPairs('lfw-train').slice(0, n);
  const corrupt = path.join(tmp, 'corrupt.jpg');
  fs.writeFileSync(corrupt, fs.readFileSync(path.join(sharedSet('lfw-train'), pairs[0][0])).subarray(0, 500));
  const body = pairs.map((p) => p.join(','));
  const bad = new Map<number, string>();
  const insert = (at: number, line: string, code: string) => {
    body.splice(at, 0, line);
    for (const [r, c] of [...bad.entries()].sort((x, y) => y[0] - x[0])) {
      if (r < at) continue;
      bad.delete(r);
      bad.set(r + 1, c);
    }
    bad.set(at, code);
  };
  insert(7, `${pairs[3][0]},No_One/No_One_0001.jpg,1`, 'not_found');
  insert(60, `${corrupt},${pairs[5][1]},0`, 'bad_image');
  insert(131, 'just-one-field', 'bad_row');
  insert(132, 'a,b,c,d,e', 'bad_row');
  return { text: `a,b,label\n${body.join('\n')}\n\n`, rows: body.length, bad };
}

function checkResults(rows: BatchResultRow[], expectedRows: number, bad: Map<number, string>, summary: BatchSummary): void {
  assert.equal(rows.length, expectedRows, 'exactly one result line per input row');
  rows.forEach((r, i) => assert.equal(r.row, i, `row ${i} in order, once`));
  for (const r of rows) {
    const want = bad.get(r.row);
    if (want) assert.equal('error' in r && r.error.code, want, `row ${r.row}: ${JSON.stringify(r)}`);
    else assert.ok(!('error' in r), `row ${r.row} unexpectedly failed: ${JSON.stringify(r)}`);
  }
  const verified = rows.filter((r) => 'verified' in r && r.verified).length;
  assert.equal(summary.rows, expectedRows);
  assert.equal(summary.verified, verified);
  assert.equal(summary.notVerified, expectedRows - bad.size - verified);
  assert.equal(summary.errors.total, bad.size);
  assert.deepEqual(summary.errors.byCode, { not_found: 1, bad_image: 1, bad_row: 2 });
  assert.equal(summary.model.version, model.version);
}

test('batch job: 300 LFW pairs + bad rows -> exactly one result per row, bad rows as errors, continue-as-new, summary matches', async () => {
  const { text, rows, bad } = batchInput(300);
  const jobId = `batch-${Date.now()}`;
  await stack.store.putObject(`jobs/${jobId}/input.csv`, text);
  const args: BatchVerifyInput = { jobId, input: `jobs/${jobId}/input.csv`, model: { name: model.name }, chunkSize: 40, concurrency: 2, continueAsNewEveryChunks: 3, baseUri: sharedSet('lfw-train') };
  const handle = await stack.client.workflow.start(batchVerify, { taskQueue: queues.cpu, workflowId: `bv-${jobId}`, args: [args] });
  const summary = (await handle.result()) as BatchSummary;
  const results = parseResultLines((await stack.store.getBuffer(resultsKey(jobId))).toString());
  checkResults(results, rows, bad, summary);
  assert.deepEqual(await stack.store.getJson(summaryKey(jobId)), summary);
  const status = await handle.query(batchStatusQuery);
  assert.equal(status.state, 'done');
  assert.equal(status.pairsDone, rows);
  assert.ok(status.continuedAsNew >= 2, `continued as new ${status.continuedAsNew} times (8 chunks, every 3)`);
  // A retried chunk that was already written returns its summary without re-writing it.
  const before = await stack.store.head(chunkKey(jobId, 1));
  const models = new ModelCache(stack.store);
  const again = await verifyChunk(stack.store, models, { jobId, chunkIndex: 1 }, localRunContext());
  assert.equal(again.alreadyDone, true);
  assert.equal(again.rows, 40);
  assert.equal((await stack.store.head(chunkKey(jobId, 1)))?.etag, before?.etag);
});

test('batch job: chunks running at once share their images: each unique image is embedded once in the worker', async () => {
  const images = [...new Set(sharedPairs('lfw-train').slice(0, 6).flatMap(([a, b]) => [a, b]))];
  // 80 rows over these few images, in 4 chunks of 20 run 2 at a time: every chunk needs nearly all of them.
  const rows = Array.from({ length: 80 }, (_, r) => [images[r % images.length], images[(r * 5 + 1) % images.length]]).filter(([a, b]) => a !== b);
  const jobId = `shared-${Date.now()}`;
  await stack.store.putObject(`jobs/${jobId}/input.csv`, `a,b\n${rows.map((r) => r.join(',')).join('\n')}\n`);
  const args: BatchVerifyInput = { jobId, input: `jobs/${jobId}/input.csv`, model: { name: model.name }, chunkSize: 20, concurrency: 2, baseUri: sharedSet('lfw-train') };
  const handle = await stack.client.workflow.start(batchVerify, { taskQueue: queues.cpu, workflowId: `bv-${jobId}`, args: [args] });
  const summary = await handle.result();
  assert.equal(summary.rows, rows.length);
  assert.equal(summary.errors.total, 0);
  const status = await handle.query(batchStatusQuery);
  const used = new Set(rows.flat());
  assert.equal(status.imagesEmbedded, used.size, `embedded ${status.imagesEmbedded} for ${used.size} unique images (${status.imagesCached} from the cache)`);
});

test('batch job survives a SIGKILLed worker mid-job: exactly one result per row, summary matches', async () => {
  const queue = stack.queue('kill');
  const { text, rows, bad } = batchInput(300);
  const jobId = `kill-${Date.now()}`;
  const csv = path.join(tmp, 'kill-input.csv');
  fs.writeFileSync(csv, text);
  await stack.store.putObject(`jobs/${jobId}/input.csv`, fs.readFileSync(csv));
  const startWorker = () => {
    const child = spawn(process.execPath, [path.join(DIST, 'workers', 'cpu-worker.js')], {
      env: stackEnv({ SIAMFACE_CPU_TASK_QUEUE: queue, SIAMFACE_CPU_CONCURRENCY: '2' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    children.push(child);
    return { child, log: () => log };
  };
  const first = startWorker();
  const args: BatchVerifyInput = { jobId, input: `jobs/${jobId}/input.csv`, model: { name: model.name }, chunkSize: 10, concurrency: 2, continueAsNewEveryChunks: 10, baseUri: sharedSet('lfw-train'), chunkHeartbeatTimeoutSeconds: 5 };
  const handle = await stack.client.workflow.start(batchVerify, { taskQueue: queue, workflowId: `bv-${jobId}`, args: [args], workflowTaskTimeout: '5s' });
  let status: BatchVerifyStatus | undefined;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    status = await handle.query(batchStatusQuery).catch(() => undefined);
    if (status && status.chunksDone >= 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(status && status.chunksDone >= 3, `the first worker made progress: ${first.log()}`);
  first.child.kill('SIGKILL');
  const doneAtKill = (await stack.store.listAll(`jobs/${jobId}/chunks/`)).length;
  assert.ok(doneAtKill < status.chunks!, `killed mid-job (${doneAtKill} of ${status.chunks} chunks written)`);
  const second = startWorker();
  const summary = (await handle.result()) as BatchSummary;
  const results = parseResultLines((await stack.store.getBuffer(resultsKey(jobId))).toString());
  checkResults(results, rows, bad, summary);
  assert.equal((await stack.store.listAll(`jobs/${jobId}/chunks/`)).length, status.chunks);
  assert.ok(await stack.store.exists(chunkKey(jobId, status.chunks! - 1)));
  // Each unique image was embedded once for the job (one cache entry each, errors included).
  const unique = new Set(
    parseCsvRecords(text, csv)
      .slice(1)
      .map((r) => r.cells)
      .filter((c) => c.length === 3)
      .flatMap((c) => [c[0], c[1]]),
  );
  assert.equal((await stack.store.listAll(`jobs/${jobId}/embeddings/`)).length, unique.size);
  second.child.kill('SIGTERM');
});
