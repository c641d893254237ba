/**
 * Batch rows whose images fail for network reasons, on the real stack (a tiny model really trained and promoted,
 * in-process workers): an unreachable URL (a closed loopback port, a host that does not resolve), a 403, a 503 and a
 * server that trickles its body under the idle timeout but past the image download limit (lowered for this file with
 * SIAMFACE_URL_IMAGE_TIMEOUT_MS) each become that row's error, and the job completes with one row per input and its
 * good rows scored. Also: a job id started again with other settings is refused, and finalize never stores a
 * results.jsonl short of a row.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { useStack, type TestStack } from '../../support/stack';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { sharedPairs, sharedSet, subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig } from '../../support/pipeline-fixtures';
import { SiamfaceError } from '../../../lib/errors';
import { localRunContext } from '../../../lib/progress';
import { ModelCache } from '../../../lib/verify/model-cache';
import { prepareBatchJob } from '../../../lib/verify/batch-prepare';
import { finalizeBatchJob } from '../../../lib/verify/batch-finalize';
import { parseResultLines } from '../../../lib/verify/batch-results';
import type { BatchJob, BatchSummary } from '../../../lib/verify/batch-types';
import { chunkKey, jobJsonKey, resultsKey } from '../../../lib/verify/job-layout';
import type { BatchVerifyInput } from '../../../lib/verify/batch-status';
import { trainingPipeline } from '../../../workflows/training-pipeline';
import { batchVerify } from '../../../workflows/batch-verify';

const IMAGE_TIMEOUT_MS = 1500;
let stack: TestStack;
let workers: InProcessWorkers | undefined;
let model: { name: string; version: number };
let server: http.Server;
let base: string;
let closedPort: string;
const lfw = () => sharedSet('lfw-train');

before(async () => {
  stack = await useStack('batch-rows');
  // Read per call by the in-process worker's activities (the policy is rebuilt when a policy variable changes).
  process.env.SIAMFACE_URL_IMAGE_TIMEOUT_MS = String(IMAGE_TIMEOUT_MS);
  workers = await startInProcessWorkers(stack);
  const dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
  const result = (await stack.client.workflow.execute(trainingPipeline, {
    taskQueue: workers.queues.cpu,
    workflowId: `batch-rows-train-${Date.now()}`,
    args: [tinyPipelineConfig(dataset, workers.queues)],
  })) as { promotion: { outcome: string; version: number } };
  assert.equal(result.promotion.outcome, 'promoted');
  model = { name: 'tiny', version: result.promotion.version };

  const face = fs.readFileSync(path.join(lfw(), 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg'));
  server = http.createServer((req, res) => {
    if (req.url === '/good.jpg') return res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': face.length }).end(face);
    if (req.url === '/forbidden.jpg') return res.writeHead(403).end();
    if (req.url === '/busy.jpg') return res.writeHead(503).end();
    if (req.url === '/slow.jpg') {
      // A byte every 100 ms: never idle for the idle timeout, never done within the image limit.
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': face.length });
      let at = 0;
      const timer = setInterval(() => (at < face.length ? res.write(face.subarray(at, ++at)) : clearInterval(timer)), 100);
      res.once('close', () => clearInterval(timer));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  // A port that was just listened on and closed: nothing accepts there (connection refused).
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  closedPort = String((closed.address() as { port: number }).port);
  await new Promise<void>((r) => closed.close(() => r()));
});

after(async () => {
  await workers?.stop();
  server?.closeAllConnections();
  server?.close();
  await stack?.close();
  delete process.env.SIAMFACE_URL_IMAGE_TIMEOUT_MS;
});

test('a batch job with unreachable, forbidden, failing and slow image URLs among good rows completes: one row per input, those rows marked, the rest scored', async () => {
  const jobId = `rows-${Date.now()}`;
  const good = sharedPairs('lfw-train').slice(0, 8);
  const GOOD = good[0][0];
  // Expected code and image per bad row; chunks of 3 put good rows beside each bad one.
  const bad = new Map<number, { code: string; image: 'a' | 'b'; message: RegExp }>();
  const rows = good.map(([a, b]) => `${a},${b}`);
  const insert = (at: number, line: string, code: string, image: 'a' | 'b', message: RegExp) => {
    rows.splice(at, 0, line);
    bad.set(at, { code, image, message });
  };
  insert(1, `http://127.0.0.1:${closedPort}/face.jpg,${GOOD}`, 'fetch_failed', 'a', /cannot reach http:\/\/127\.0\.0\.1:\d+\/face\.jpg: .*ECONNREFUSED/);
  insert(4, `${GOOD},${base}/forbidden.jpg`, 'forbidden', 'b', /answered 403/);
  insert(6, `${base}/slow.jpg,${GOOD}`, 'timeout', 'a', new RegExp(`not complete within ${IMAGE_TIMEOUT_MS} ms \\(SIAMFACE_URL_IMAGE_TIMEOUT_MS\\)`));
  insert(9, `${base}/busy.jpg,${GOOD}`, 'fetch_failed', 'a', /answered 503/);
  // .invalid never resolves (RFC 6761): an unreachable host, not a policy refusal.
  insert(11, `${GOOD},http://no-such-host.invalid/face.jpg`, 'fetch_failed', 'b', /no-such-host\.invalid\/face\.jpg is refused: its host name does not resolve/);
  rows.push(`${base}/good.jpg,${GOOD}`); // a good http row: the same server's working URLs still score

  await stack.store.putObject(`jobs/${jobId}/input.csv`, `a,b\n${rows.join('\n')}\n`);
  const args: BatchVerifyInput = { jobId, input: `jobs/${jobId}/input.csv`, model, chunkSize: 3, concurrency: 2, baseUri: lfw() };
  const summary = (await stack.client.workflow.execute(batchVerify, { taskQueue: workers!.queues.cpu, workflowId: `bv-${jobId}`, args: [args] })) as BatchSummary;

  const results = parseResultLines((await stack.store.getBuffer(resultsKey(jobId))).toString());
  assert.equal(results.length, rows.length, 'exactly one result line per input row');
  results.forEach((r, i) => assert.equal(r.row, i, `row ${i} in order, once`));
  for (const r of results) {
    const want = bad.get(r.row);
    if (want) {
      assert.ok('error' in r, `row ${r.row} should have failed: ${JSON.stringify(r)}`);
      assert.equal(r.error.code, want.code, `row ${r.row}: ${r.error.message}`);
      assert.equal(r.error.image, want.image, `row ${r.row}`);
      assert.match(r.error.message, want.message, `row ${r.row}`);
    } else {
      assert.ok(!('error' in r), `row ${r.row} unexpectedly failed: ${JSON.stringify(r)}`);
      assert.ok(Number.isFinite(r.distance) && r.distance >= 0, `row ${r.row} scored: ${JSON.stringify(r)}`);
    }
  }
  assert.equal(summary.rows, rows.length);
  assert.deepEqual(summary.errors.byCode, { fetch_failed: 3, forbidden: 1, timeout: 1 });
  assert.equal(summary.verified + summary.notVerified, rows.length - bad.size);

  // The same job id again: the same settings resume it; changed ones are refused, naming what changed.
  const models = new ModelCache(stack.store);
  const req = { jobId, input: args.input, model, chunkSize: 3, baseUri: lfw() };
  const again = await prepareBatchJob(stack.store, models, req, localRunContext());
  assert.equal(again.totalRows, rows.length);
  for (const [change, message] of [
    [{ threshold: 0.5 }, /changes threshold 0\.5 \(the job has unset\)/],
    [{ detect: 'always' }, /changes detect "always" \(the job has "auto"\)/],
    [{ model: { name: model.name, version: model.version + 1 } }, new RegExp(`changes model version ${model.version + 1} \\(the job pinned ${model.version}\\)`)],
    [{ baseUri: sharedSet('faces-dev') }, /changes baseUri .*faces-dev.* \(the job has .*lfw-train.*\)/],
  ] as const) {
    await assert.rejects(prepareBatchJob(stack.store, models, { ...req, ...change }, localRunContext()), (e: unknown) => {
      assert.ok(e instanceof SiamfaceError && e.code === 'bad_input', String(e));
      assert.match(e.message, new RegExp(`^job ${jobId} was prepared with other settings`));
      assert.match(e.message, message);
      return true;
    });
  }
  await models.dispose();
});

test('finalize refuses chunks that are not one row per input row, and stores no results.jsonl then', async () => {
  const ctx = localRunContext();
  const line = (row: number) => JSON.stringify({ row, error: { code: 'bad_row', message: 'x' } });
  for (const [name, lastChunk, message] of [
    ['short', [2], /chunk 1 ends at row 2, expected row 3/],
    ['long', [2, 3, 4], /chunk 1 has row 4 where no more rows was expected/],
    ['gap', [3], /chunk 1 has row 3 where row 2 was expected/],
  ] as const) {
    const jobId = `finalize-${name}-${Date.now()}`;
    // Written by hand: only what finalize reads (4 rows in chunks of 2).
    const job = { schemaVersion: 1, jobId, model, chunkSize: 2, totalRows: 4, chunks: 2, createdAt: new Date().toISOString() } as unknown as BatchJob;
    await stack.store.putJson(jobJsonKey(jobId), job);
    await stack.store.putObject(chunkKey(jobId, 0), `${line(0)}\n${line(1)}\n`);
    await stack.store.putObject(chunkKey(jobId, 1), `${lastChunk.map(line).join('\n')}\n`);
    await assert.rejects(finalizeBatchJob(stack.store, { jobId }, ctx), (e: unknown) => {
      assert.ok(e instanceof SiamfaceError && e.code === 'bad_input', String(e));
      assert.match(e.message, message);
      return true;
    });
    assert.equal(await stack.store.exists(resultsKey(jobId)), false, `${name}: no results.jsonl`);
  }
});
