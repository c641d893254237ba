/**
 * Distillation through the real pipeline: the 'teacher' stage embeds every train image with faceres34
 * (face-api.js's weights) once and stores the embeddings beside the shards; a DenseNet student trains on
 * them; a second pipeline on the same shards reuses the stored embeddings instead of computing them again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { useStack, type TestStack } from '../../support/stack';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { subsetOf } from '../../support/shared-data';
import type { PipelineResult, PipelineStatus } from '../../../lib/pipeline/status';
import type { PipelineConfigInput } from '../../../lib/pipeline/config';
import type { DatasetManifest } from '../../../lib/data/dataset-manifest';
import { TeacherTargets, teacherManifestKey, type TeacherManifest } from '../../../lib/train/teacher-embeddings';
import { ShardImageSource } from '../../../lib/train/data-loader';
import { buildEmbeddingTower } from '../../../lib/model/tower';
import { loadFaceApiWeights } from '../../../lib/model/face-api-weights';
import { BACKBONES } from '../../../lib/model/backbones';
import { preprocessRgbBytes } from '../../../lib/model/preprocess';
import { readModelCard } from '../../../lib/registry/versions';
import { trainingPipeline, pipelineStatusQuery } from '../../../workflows/training-pipeline';

let stack: TestStack;
let workers: InProcessWorkers;
let folder: string;

before(async () => {
  stack = await useStack('distill');
  folder = subsetOf('lfw-train', { identities: 8, minImages: 4, maxImages: 4 });
  workers = await startInProcessWorkers(stack);
});

after(async () => {
  await workers?.stop();
  await stack?.close();
  fs.rmSync(folder, { recursive: true, force: true });
});

function input(seed: number): PipelineConfigInput {
  return {
    dataset: { source: { kind: 'folder', location: folder }, id: 'distill-tiny' },
    preprocessing: { imageSize: 48, crop: 'centre', shardSize: 16 },
    split: { seed: 0, fractions: { train: 0.6, val: 0.2, test: 0.2 } },
    pairs: { seed: 1, perSplit: { train: 32, val: 12, test: 12 } },
    training: {
      imageSize: 32,
      model: { blocks: [1, 1], growthRate: 8, headUnits: [16, 16], embeddingDim: 128 },
      weights: { kind: 'none' },
      teacher: { backbone: 'faceres34' },
      loss: 'contrastive',
      seed,
      batchSize: 4,
      phase1: { steps: 2, lr: 1e-3 },
      phase2: { steps: 4, lr: 1e-3 },
      warmupSteps: 1,
      checkpointEverySteps: 3,
      valPairsLimit: 12,
      backend: 'wasm',
    },
    promotion: { modelName: `distill-${seed}` },
    taskQueues: workers.queues,
  };
}

async function run(seed: number): Promise<{ result: PipelineResult; status: PipelineStatus }> {
  const handle = await stack.client.workflow.start(trainingPipeline, { taskQueue: workers.queues.cpu, workflowId: `distill-${seed}-${Date.now()}`, args: [input(seed)] });
  const result = (await handle.result()) as PipelineResult;
  return { result, status: (await handle.query(pipelineStatusQuery)) };
}

test('the teacher embeds the train images once; a second run on the same shards reuses them', { timeout: 600_000 }, async () => {
  const first = await run(1);
  const t1 = first.status.stages.teacher;
  assert.equal(t1.state, 'done');
  assert.ok((t1.summary!.shardsComputed as number) >= 1, `computed: ${JSON.stringify(t1.summary)}`);
  const manifest = await stack.store.getJson<DatasetManifest>(first.status.outputs.manifest as string);
  const teacherKey = first.status.outputs.teacher as string;
  assert.equal(teacherKey, teacherManifestKey(manifest.datasetId, t1.summary!.teacherId as string));
  const tm = await stack.store.getJson<TeacherManifest>(teacherKey);
  assert.equal(tm.shards.reduce((n, s) => n + s.count, 0), manifest.splits.train.images, 'every train image');
  const etags = await Promise.all(tm.shards.map(async (s) => (await stack.store.head(s.key))!.etag));

  // The stored embeddings are the teacher's descriptors of the shard images (and of their mirrors).
  const targets = await TeacherTargets.load(stack.store, manifest, { backbone: 'faceres34' });
  const source = await ShardImageSource.open(stack.store, first.status.outputs.manifest as string, { imageSize: 150, decodedCacheImages: 0, shardCacheBytes: 0, splits: ['train'] });
  const teacher = buildEmbeddingTower({ backbone: 'faceres34' }, { seed: 0 });
  loadFaceApiWeights(teacher);
  const id = source.imagesOf('train')[0];
  const rgb = await source.rgb(id);
  const x = tf.tensor4d(preprocessRgbBytes(rgb, BACKBONES.faceres34.normalization), [1, 150, 150, 3]);
  const want = (teacher.predict(x) as tf.Tensor).dataSync();
  const got = targets.of(id, false);
  const norm = Math.hypot(...Array.from(got));
  want.forEach((w, i) => assert.ok(Math.abs(w - got[i] / norm) < 1e-4, `component ${i}`));
  assert.notDeepEqual(Array.from(targets.of(id, true)), Array.from(got), 'the mirror has its own embedding');
  teacher.dispose();
  x.dispose();

  // The student trained on them and was promoted; its card names the teacher.
  assert.equal(first.result.training.steps, 6);
  const card = await readModelCard(stack.store, 'distill-1', first.result.promotion.version!);
  assert.deepEqual((card.model.training?.teacher as { backbone: string; teacherId: string }).backbone, 'faceres34');

  // Another run (another seed: another run id) on the same shards: nothing is embedded again.
  const second = await run(2);
  const t2 = second.status.stages.teacher;
  assert.equal(t2.state, 'done');
  assert.equal(t2.summary!.shardsComputed, 0);
  assert.equal(t2.summary!.teacherId, t1.summary!.teacherId);
  assert.deepEqual(await Promise.all(tm.shards.map(async (s) => (await stack.store.head(s.key))!.etag)), etags, 'embedding files untouched');
  assert.notEqual(second.result.runId, first.result.runId);
  assert.equal(second.result.training.steps, 6);
});
