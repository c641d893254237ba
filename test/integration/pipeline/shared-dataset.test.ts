/**
 * Two pipelines on one dataset at once, with different preprocessing (image size, shard size) and pair counts:
 * both complete, each trains and evaluates on its own shard and pair sets, and neither rewrites the other's data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { useStack, type TestStack } from '../../support/stack';
import { subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig } from '../../support/pipeline-fixtures';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { loadPairs } from '../../../lib/train/data-loader';
import { pairsChecksum } from '../../../lib/eval/pairs';
import type { DatasetManifest } from '../../../lib/data/dataset-manifest';
import type { EvalReport } from '../../../lib/eval/types';
import type { PipelineResult } from '../../../lib/pipeline/status';
import { trainingPipeline, pipelineStatusQuery } from '../../../workflows/training-pipeline';

let stack: TestStack;
let dataset: string;
let workers: InProcessWorkers;

before(async () => {
  stack = await useStack('shared-dataset');
  dataset = subsetOf('lfw-train', { identities: 14, minImages: 3, maxImages: 5 });
  workers = await startInProcessWorkers(stack);
});

after(async () => {
  await workers?.stop();
  await stack?.close();
});

test('two pipelines on one dataset with different imageSize and pair counts run at once; each uses its own data', { timeout: 420_000 }, async () => {
  const configs = [
    tinyPipelineConfig(dataset, workers.queues, { preprocessing: { imageSize: 32, crop: 'centre', shardSize: 40 }, pairs: { seed: 1, perSplit: { train: 64, val: 24, test: 24 } } }),
    tinyPipelineConfig(dataset, workers.queues, { preprocessing: { imageSize: 48, crop: 'centre', shardSize: 25 }, pairs: { seed: 1, perSplit: { train: 40, val: 16, test: 12 } } }),
  ];
  const handles = await Promise.all(
    configs.map((cfg, i) => stack.client.workflow.start(trainingPipeline, { taskQueue: workers.queues.cpu, workflowId: `shared-dataset-${i}-${Date.now()}`, args: [cfg] })),
  );
  const results = (await Promise.all(handles.map((h) => h.result()))) as PipelineResult[];
  assert.equal(results[0].datasetId, results[1].datasetId, 'one dataset');
  assert.notEqual(results[0].runId, results[1].runId, 'two runs');

  const statuses = await Promise.all(handles.map((h) => h.query(pipelineStatusQuery)));
  assert.notEqual(statuses[0].outputs.manifest, statuses[1].outputs.manifest, 'each has its own shard set');
  for (const [i, st] of statuses.entries()) {
    const manifestKey = st.outputs.manifest as string;
    const pairsKeys = st.outputs.pairs as { val: string; test: string };
    const manifest = await stack.store.getJson<DatasetManifest>(manifestKey);
    assert.equal(manifest.config.imageSize, i === 0 ? 32 : 48);
    assert.ok(manifest.shards.every((s) => s.key.startsWith(manifestKey.replace(/manifest\.json$/, ''))), 'its shards are in its own set');
    // Each evaluated exactly its own shard set and its own pairs.
    const report = await stack.store.getJson<EvalReport>(results[i].evalReportKey);
    assert.equal(report.lineage.datasetManifestChecksum, createHash('sha256').update(await stack.store.getBuffer(manifestKey)).digest('hex'));
    const test = await loadPairs(stack.store, pairsKeys.test);
    assert.equal(test.length, i === 0 ? 24 : 12);
    assert.equal(report.pairs.test.checksum, pairsChecksum(test));
    assert.equal(report.pairs.test.pairs, test.length);
    // The shards it trained on are still the ones its manifest recorded.
    for (const s of manifest.shards) assert.equal((await stack.store.head(s.key))?.etag, s.etag, `${s.key} unchanged`);
  }
});
