import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { useStack, type TestStack } from '../../support/stack';
import { evaluateActivities, type EmbedderFactory } from '../../../activities/evaluate';
import type { EvaluateRunResult } from '../../../lib/eval/evaluate-run';
import type { PromoteRunResult } from '../../../activities/promote';
import { promoteActivities } from '../../../activities/promote';
import { readModelCard } from '../../../lib/registry/versions';
import type { EvalReport } from '../../../lib/eval/types';

let stack: TestStack;
before(async () => {
  stack = await useStack('eval-stages');
});
after(async () => stack?.close());

/** A deterministic stand-in model: same identity -> nearby embeddings, with per-image noise. */
function vectorFrom(seed: string, dim: number): number[] {
  const out: number[] = [];
  for (let i = 0; out.length < dim; i++) {
    const h = createHash('sha256').update(`${seed}#${i}`).digest();
    for (let j = 0; j < h.length && out.length < dim; j += 2) out.push(h.readUInt16LE(j) / 65535 - 0.5);
  }
  return out;
}
let factoryCalls = 0;
const embedderFor: EmbedderFactory = async () => {
  factoryCalls++;
  return {
    embed: async (ids) =>
      ids.map((id) => {
        const person = vectorFrom(id.split('/')[0], 16);
        const noise = vectorFrom(id, 16);
        return Float32Array.from(person.map((p, i) => p + 0.35 * noise[i]));
      }),
  };
};

/** What the shard and pairs stages would hand the evaluate stage. */
const DS1 = {
  datasetId: 'ds1',
  manifestKey: 'datasets/ds1/shards/0123456789abcdef/manifest.json',
  pairsKeys: { val: 'datasets/ds1/pairs/fedcba9876543210/val.csv', test: 'datasets/ds1/pairs/fedcba9876543210/test.csv' },
};

function pairsCsv(prefix: string, people: number): string {
  const rows = ['a,b,label'];
  for (let p = 0; p < people; p++) {
    rows.push(`${prefix}${p}/1.jpg,${prefix}${p}/2.jpg,1`);
    rows.push(`${prefix}${p}/1.jpg,${prefix}${(p + 1) % people}/2.jpg,0`);
  }
  return rows.join('\n') + '\n';
}

test('evaluateRun and promoteRun activities: report in the bucket, skip when done, publish and promote once', async () => {
  const { store } = stack;
  await store.putObject(DS1.pairsKeys.val, pairsCsv('val', 40));
  await store.putObject(DS1.pairsKeys.test, pairsCsv('test', 60));
  await store.putJson(DS1.manifestKey, { datasetId: 'ds1' });
  await store.putJson('runs/r1/model/model.json', { format: 'layers-model', userDefinedMetadata: { backend: 'wasm', model: { inputSize: 64, embeddingDim: 16 } } });
  await store.putObject('runs/r1/model/weights.bin', Buffer.alloc(1024, 7));

  const env = new MockActivityEnvironment();
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  const { evaluateRun } = evaluateActivities({ store, embedderFor });
  const first = (await env.run(evaluateRun, { runId: 'r1', ...DS1, batchSize: 16 })) as EvaluateRunResult;
  assert.equal(first.skipped, false);
  assert.equal(factoryCalls, 1);
  assert.ok(first.headline.rocAuc > 0.9, `AUC ${first.headline.rocAuc}`);
  assert.ok(heartbeats.length > 0, 'the activity heartbeats');
  for (const f of ['report.json', 'report.html', 'roc.svg', 'distance-histogram.svg']) assert.ok(await store.exists(`runs/r1/eval/${f}`), f);
  const report = await store.getJson<EvalReport>(first.reportKey);
  assert.equal(report.distances.test.length, 120);
  assert.equal(report.pairs.test.identities, 60);
  assert.match(report.lineage.datasetManifestChecksum ?? '', /^[0-9a-f]{64}$/);

  const again = (await new MockActivityEnvironment().run(evaluateRun, { runId: 'r1', ...DS1 })) as EvaluateRunResult;
  assert.equal(again.skipped, true);
  assert.equal(factoryCalls, 1, 'a finished evaluation does not load the model again');
  assert.deepEqual(again.headline, first.headline);

  const { promoteRun } = promoteActivities({ store });
  const promoteEnv = new MockActivityEnvironment();
  const promoteBeats: { stage?: string; step?: string }[] = [];
  promoteEnv.on('heartbeat', (d: { stage?: string; step?: string }) => promoteBeats.push(d));
  const promoted = (await promoteEnv.run(promoteRun, { runId: 'r1', modelName: 'stage-model', trainingConfig: { preprocessing: { imageSize: 64, crop: 'centre' } } })) as PromoteRunResult;
  // It heartbeats from its start and again after publishing, so a heartbeat timeout guards it (throttled: not every step shows).
  assert.deepEqual(promoteBeats[0], { stage: 'promote', step: 'register', runId: 'r1' });
  assert.ok(promoteBeats.slice(1).some((b) => b.stage === 'promote' && /^onnx/.test(b.step ?? '')), `later heartbeats: ${JSON.stringify(promoteBeats.slice(1))}`);
  assert.equal(promoted.outcome, 'promoted');
  assert.equal(promoted.version, 1);
  assert.equal(promoted.versionKey, 'models/stage-model/versions/1/');
  const card = await readModelCard(store, 'stage-model', 1);
  assert.equal(card.model.backend, 'wasm');
  assert.equal(card.model.inputSize, 64);
  assert.equal(card.evaluation.threshold, report.threshold.value);
  assert.ok((await store.getBuffer('models/stage-model/versions/1/weights.bin')).equals(Buffer.alloc(1024, 7)));

  // A retried promote (e.g. after a worker crash) changes nothing.
  const retried = (await new MockActivityEnvironment().run(promoteRun, { runId: 'r1', modelName: 'stage-model' })) as PromoteRunResult;
  assert.equal(retried.outcome, 'already-production');
  assert.equal(retried.version, 1);
});

test('activity failures: a bad rule is non-retryable, a missing embedder says what to wire', async () => {
  const { promoteRun } = promoteActivities({ store: stack.store });
  await assert.rejects(
    new MockActivityEnvironment().run(promoteRun, { runId: 'r1', modelName: 'stage-model', rule: { metric: 'speed' } }),
    (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable === true && /promotion metric "speed"/.test(e.message),
  );
  const { evaluateRun } = evaluateActivities({ store: stack.store });
  await assert.rejects(
    new MockActivityEnvironment().run(evaluateRun, { runId: 'r2', ...DS1 }),
    (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable === true && /embedderFor/.test(e.message),
  );
});
