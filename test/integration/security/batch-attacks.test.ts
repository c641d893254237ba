/**
 * Attack suite, batch verification: batchVerify workflows on the real stack (a tiny model really trained and
 * promoted first; the batch jobs run on a real CPU worker process with its own log). Rows that name what the worker
 * must not read (local files, `../`, another bucket, the metadata address) become that row's `forbidden` error, and
 * the rest of the chunk is verified; a refused local path reads the same whether or not it exists; an expired signed
 * URL is refused by its server and becomes the row's error too; outputs go only where the policy allows and never
 * over another job's results; rows' URL credentials and signatures never reach results, messages or logs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { useStack, type TestStack } from '../../support/stack';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { sharedSet, subsetOf } from '../../support/shared-data';
import { testInputDir } from '../../support/test-policy';
import { tinyPipelineConfig } from '../../support/pipeline-fixtures';
import { ObjectStore } from '../../../lib/storage/object-store';
import { parseResultLines } from '../../../lib/verify/batch-results';
import type { BatchSummary } from '../../../lib/verify/batch-types';
import { resultsKey } from '../../../lib/verify/job-layout';
import type { BatchVerifyInput } from '../../../lib/verify/batch-status';
import { batchVerify } from '../../../workflows/batch-verify';
import { trainingPipeline } from '../../../workflows/training-pipeline';

let stack: TestStack;
let inProcess: InProcessWorkers | undefined;
let worker: WorkerProcess;
let queue: string;
let model: { name: string; version: number };
let otherBucket: ObjectStore;
let server: http.Server;
let base: string;
const handles: WorkflowHandle[] = [];
const ROW_SECRETS = ['pw-in-row-7788', 'rowsig0123456789'];

before(async () => {
  stack = await useStack('sec-batch');
  inProcess = await startInProcessWorkers(stack);
  const dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
  const result = (await stack.client.workflow.execute(trainingPipeline, {
    taskQueue: inProcess.queues.cpu,
    workflowId: `sec-batch-train-${Date.now()}`,
    args: [tinyPipelineConfig(dataset, inProcess.queues)],
  })) as { promotion: { outcome: string; version: number } };
  assert.equal(result.promotion.outcome, 'promoted');
  model = { name: 'tiny', version: result.promotion.version };
  await inProcess.stop();
  inProcess = undefined;
  otherBucket = new ObjectStore({ ...stack.s3, bucket: `${stack.s3.bucket.slice(0, 50)}-other` });
  await otherBucket.ensureBucket();
  await otherBucket.putObject('secret/face.jpg', fs.readFileSync(path.join(sharedSet('lfw-train'), 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg')));
  await stack.store.putObject('inputs/face.jpg', fs.readFileSync(path.join(sharedSet('lfw-train'), 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg')));
  server = http.createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  queue = stack.queue('batch-cpu');
  worker = startWorkerProcess('cpu', { info: stack.info, s3: stack.s3, queues: { cpu: queue, gpu: stack.queue('unused-gpu') }, logDir: testInputDir('batch-attack-logs'), name: 'batch-attack-cpu' });
  await worker.ready;
});

after(async () => {
  await worker?.kill('SIGTERM');
  await inProcess?.stop();
  server?.close();
  await stack?.close();
});

/** A SigV4 query-signed GET for MinIO that expired long ago (signed in 2020, valid for 60 s); hand-written: a test aid only. */
function expiredSignedUrl(bucket: string, key: string): string {
  const endpoint = new URL(stack.s3.endpoint!);
  const amzDate = '20200101T000000Z';
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${stack.s3.region}/s3/aws4_request`;
  const params = new URLSearchParams({
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${stack.s3.accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': '60',
    'X-Amz-SignedHeaders': 'host',
  });
  params.sort();
  const query = params.toString().replace(/\+/g, '%20');
  const canonical = ['GET', `/${bucket}/${key}`, query, `host:${endpoint.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${stack.s3.secretAccessKey}`, day), stack.s3.region), 's3'), 'aws4_request');
  return `${endpoint.origin}/${bucket}/${key}?${query}&X-Amz-Signature=${createHmac('sha256', signingKey).update(toSign).digest('hex')}`;
}

async function runJob(jobId: string, rows: string[], extra: Partial<BatchVerifyInput> = {}): Promise<WorkflowHandle> {
  await stack.store.putObject(`jobs/${jobId}/input.csv`, `a,b\n${rows.join('\n')}\n`);
  const args: BatchVerifyInput = { jobId, input: `jobs/${jobId}/input.csv`, model, chunkSize: 50, baseUri: sharedSet('lfw-train'), ...extra };
  const handle = await stack.client.workflow.start(batchVerify, { taskQueue: queue, workflowId: `sec-bv-${jobId}`, args: [args] });
  handles.push(handle);
  return handle;
}

const GOOD = 'Abel_Pacheco/Abel_Pacheco_0001.jpg';

test('refused rows become their own forbidden errors; the rest of the chunk is verified; existence is not revealed', async () => {
  const jobId = `rows-${Date.now()}`;
  const signed = expiredSignedUrl(stack.s3.bucket, 'inputs/face.jpg');
  const rows = [
    `${GOOD},Abel_Pacheco/Abel_Pacheco_0004.jpg`,
    `/etc/passwd,${GOOD}`,
    `/etc/no-such-file-${Date.now()},${GOOD}`,
    `../../../../../../../etc/hostname,${GOOD}`,
    `http://169.254.169.254/latest/meta-data/iam/,${GOOD}`,
    `${otherBucket.uri('secret/face.jpg')},${GOOD}`,
    `${signed},${GOOD}`,
    `http://alice:${ROW_SECRETS[0]}@127.0.0.1:${base.split(':').pop()}/nope.jpg?X-Amz-Signature=${ROW_SECRETS[1]},${GOOD}`,
  ];
  const summary = (await (await runJob(jobId, rows)).result()) as BatchSummary;
  assert.equal(summary.rows, rows.length);
  assert.deepEqual(summary.errors.byCode, { forbidden: 6, not_found: 1 });
  const results = parseResultLines((await stack.store.getBuffer(resultsKey(jobId))).toString());
  assert.ok(!('error' in results[0]), `the good row was verified: ${JSON.stringify(results[0])}`);
  const err = (i: number) => {
    const r = results[i];
    assert.ok('error' in r, `row ${i}: ${JSON.stringify(r)}`);
    return r.error;
  };
  for (const i of [1, 2, 3, 4, 5, 6]) assert.equal(err(i).code, 'forbidden', `row ${i}: ${err(i).message}`);
  // The same refusal, word for word, for a file that exists and one that does not.
  assert.equal(err(1).message.replace('/etc/passwd', 'PATH'), err(2).message.replace(/\/etc\/no-such-file-\d+/, 'PATH'));
  assert.match(err(1).message, /SIAMFACE_IMAGE_ROOTS/);
  assert.match(err(4).message, /169\.254\.169\.254, a linkLocal address/);
  assert.match(err(5).message, /SIAMFACE_S3_READ_PREFIXES/);
  assert.match(err(6).message, /answered 403: check the credentials \(an expired signed URL answers this too\)/);
  assert.equal(err(7).code, 'not_found');
  const text = JSON.stringify(results);
  for (const s of [...ROW_SECRETS, 'X-Amz-Credential', 'alice']) assert.ok(!text.includes(s), `results hold ${s}`);
});

test('outputs: never under the worker\'s own layout or another bucket, and never over another job\'s results', async () => {
  for (const [name, output, rule] of [
    ['reserved', `s3://${stack.s3.bucket}/models/tiny/versions/99/`, /outputs never go under the worker's own/],
    ['other-bucket', otherBucket.uri('out/'), /SIAMFACE_S3_OUTPUT_PREFIXES/],
  ] as const) {
    const jobId = `out-${name}-${Date.now()}`;
    const handle = await runJob(jobId, [`${GOOD},${GOOD}`], { output });
    await assert.rejects(handle.result(), (e: unknown) => {
      assert.ok(e instanceof WorkflowFailedError);
      const cause = (e.cause as Error & { cause?: Error & { type?: string } }).cause!;
      assert.equal(cause.type, 'forbidden');
      assert.match(cause.message, /batch output s3:\/\/.* is refused/);
      assert.match(cause.message, rule);
      return true;
    });
    assert.deepEqual(await stack.store.listAll(`jobs/${jobId}/chunks/`), [], 'refused before any chunk ran');
  }
  assert.deepEqual(await stack.store.listAll('models/tiny/versions/99/'), []);
  assert.deepEqual(await otherBucket.listAll('out/'), []);

  const shared = `s3://${stack.s3.bucket}/exports/shared-${Date.now()}/`;
  const first = `owner-a-${Date.now()}`;
  await (await runJob(first, [`${GOOD},${GOOD}`], { output: shared })).result();
  const key = `${shared.replace(`s3://${stack.s3.bucket}/`, '')}results.jsonl`;
  const before = await stack.store.head(key);
  const second = await runJob(`owner-b-${Date.now()}`, [`${GOOD},Abel_Pacheco/Abel_Pacheco_0004.jpg`], { output: shared });
  await assert.rejects(second.result(), (e: unknown) => e instanceof WorkflowFailedError && /already holds the results of job owner-a/.test(String((e.cause as Error & { cause?: Error }).cause?.message)));
  assert.equal((await stack.store.head(key))?.etag, before?.etag, 'the first job\'s results are untouched');
});

test('no worker credential in any history, in the worker log or in the bucket; row credentials only in the caller\'s own input', async () => {
  const workerSecrets = [stack.s3.secretAccessKey];
  for (const h of handles) {
    const history = JSON.stringify(await h.fetchHistory(), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
    for (const s of workerSecrets) assert.ok(!history.includes(s), `history of ${h.workflowId} holds the S3 secret`);
  }
  const log = fs.readFileSync(worker.logFile, 'utf8');
  for (const s of [...workerSecrets, ...ROW_SECRETS]) assert.ok(!log.includes(s), `the worker log holds ${s}`);
  for (const o of await stack.store.listAll('')) {
    const body = (await stack.store.getBuffer(o.key)).toString('latin1');
    for (const s of workerSecrets) assert.ok(!body.includes(s), `${o.key} holds the S3 secret`);
    if (!o.key.endsWith('/input.csv')) for (const s of ROW_SECRETS) assert.ok(!body.includes(s), `${o.key} holds a row's credential`);
  }
});
