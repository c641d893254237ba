/**
 * The training pipeline survives its infrastructure failing under it, on a real stack of its own:
 * a SIGKILLed GPU worker (training resumes from a checkpoint), a Temporal server restart (SQLite
 * file kept), and MinIO going away for a few seconds during sharding. Workers are child processes.
 * It also checks that no secret reaches the workflow history.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { usePrivateStack, type TestStack } from '../../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig, TINY_TRAINING } from '../../support/pipeline-fixtures';
import { startService, stopService, waitServiceHealthy, type StackOptions } from '../../../infra/local-stack';
import { latestCompleteCheckpoint } from '../../../lib/train/checkpoint';
import { readShardIndex } from '../../../lib/data/shard-format';
import type { DatasetManifest } from '../../../lib/data/dataset-manifest';
import type { PipelineResult, PipelineStatus } from '../../../lib/pipeline/status';

const FAKE_KAGGLE_KEY = 'kaggle-key-that-must-never-appear-0123456789';
let stack: TestStack & { options: StackOptions };
const workers: WorkerProcess[] = [];
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-durability-'));
let dataset: string;

before(async () => {
  stack = await usePrivateStack('durability');
  dataset = subsetOf('lfw-train', { identities: 40, minImages: 3, maxImages: 6 });
});

after(async () => {
  for (const w of workers) await w.kill();
  await stack?.close();
});

function worker(kind: 'cpu' | 'gpu', queues: { cpu: string; gpu: string }, name: string): WorkerProcess {
  const w = startWorkerProcess(kind, { info: stack.info, s3: stack.s3, queues, logDir, name, env: { KAGGLE_KEY: FAKE_KAGGLE_KEY, KAGGLE_USERNAME: 'someone', SIAMFACE_TF_BACKEND: 'wasm' } });
  workers.push(w);
  return w;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The pipeline's result; fails at once (with its log) if one of the workers it needs dies instead of hanging. */
async function resultOf(handle: WorkflowHandle, needed: WorkerProcess[]): Promise<PipelineResult> {
  return (await Promise.race([handle.result(), ...needed.map((w) => w.unexpectedExit)])) as PipelineResult;
}

async function stageOf(handle: WorkflowHandle): Promise<string | undefined> {
  return (await handle.query<PipelineStatus>('status')).stage;
}

async function historyText(handle: WorkflowHandle): Promise<string> {
  return JSON.stringify(await handle.fetchHistory());
}

test('GPU worker SIGKILLed during training and the Temporal server restarted: the pipeline completes and training resumed from a checkpoint', { timeout: 600_000 }, async () => {
  const queues = { cpu: stack.queue('cpu-a'), gpu: stack.queue('gpu-a') };
  const cpu = worker('cpu', queues, 'cpu-a');
  const gpu1 = worker('gpu', queues, 'gpu-a1');
  await Promise.all([cpu.ready, gpu1.ready]);

  const input = tinyPipelineConfig(dataset, queues, {
    training: { ...TINY_TRAINING, phase1: { steps: 6, lr: 1e-3 }, phase2: { steps: 30, lr: 1e-4 }, valPairsLimit: 8 },
    heartbeatTimeoutSeconds: { data: 20, train: 8, evaluate: 20 },
  });
  const handle = await stack.client.workflow.start('trainingPipeline', { taskQueue: queues.cpu, workflowId: `durability-kill-${Date.now()}`, args: [input] });

  // Wait for a checkpoint past step 4, then kill the GPU worker without warning.
  const runId = await waitFor('the run id', async () => (await handle.query<PipelineStatus>('status')).runId);
  const ckpt = await waitFor('a checkpoint at step >= 4', async () => {
    const c = await latestCompleteCheckpoint(stack.store, runId);
    return c && c.meta.step >= 4 ? c : undefined;
  }, 300_000);
  await gpu1.kill('SIGKILL');

  // Restart the Temporal server while the training activity is orphaned (its state is in the SQLite file).
  await stopService(stack.options, 'temporal');
  await startService(stack.options, 'temporal');
  await waitServiceHealthy(stack.options, 'temporal');

  const gpu2 = worker('gpu', queues, 'gpu-a2');
  await gpu2.ready;
  const result = await resultOf(handle, [cpu, gpu2]);
  assert.ok(result.training.resumedFromStep !== null && result.training.resumedFromStep >= ckpt.meta.step, `training resumed from step ${result.training.resumedFromStep}, checkpoint was at ${ckpt.meta.step}`);
  assert.equal(result.training.steps, 36, 'the step counter continued to the planned total instead of restarting');
  assert.equal((await stageOf(handle)), 'done');
  assert.ok(['promoted', 'rejected', 'already-production'].includes(result.promotion.outcome), `promotion outcome ${result.promotion.outcome}`);

  // No secret in the history: not the S3 secret the workers use, not the Kaggle key in their environment.
  const history = await historyText(handle);
  assert.ok(!history.includes(stack.s3.secretAccessKey), 'S3 secret found in history');
  assert.ok(!history.includes(FAKE_KAGGLE_KEY), 'Kaggle key found in history');
});

test('MinIO stopped for a few seconds during sharding: the stage retries and the manifest is complete and consistent', { timeout: 600_000 }, async () => {
  const queues = { cpu: stack.queue('cpu-b'), gpu: stack.queue('gpu-b') };
  const cpu = worker('cpu', queues, 'cpu-b');
  const gpu = worker('gpu', queues, 'gpu-b');
  await Promise.all([cpu.ready, gpu.ready]);
  // A different shard size gives a different dataset config, so sharding really runs again.
  const input = tinyPipelineConfig(dataset, queues, { dataset: { source: { kind: 'folder', location: dataset }, id: 'minio-outage' }, preprocessing: { imageSize: 32, crop: 'centre', shardSize: 10 } });
  const handle = await stack.client.workflow.start('trainingPipeline', { taskQueue: queues.cpu, workflowId: `durability-minio-${Date.now()}`, args: [input] });

  await waitFor('the shard stage', async () => ((await stageOf(handle)) === 'shard' ? true : undefined), 300_000);
  await stopService(stack.options, 'minio');
  await new Promise((r) => setTimeout(r, 4000));
  await startService(stack.options, 'minio');
  await waitServiceHealthy(stack.options, 'minio');

  const result = await resultOf(handle, [cpu, gpu]);
  assert.equal(result.datasetId, 'minio-outage');
  const status = await handle.query<PipelineStatus>('status');
  assert.equal(status.stages.shard.state, 'done');

  const manifest = await stack.store.getJson<DatasetManifest>(status.outputs.manifest as string);
  let indexed = 0;
  const seen = new Set<string>();
  for (const s of manifest.shards) {
    const index = await readShardIndex(stack.store, s.index);
    assert.equal(index.sha256, s.sha256, `shard ${s.key} matches its manifest checksum`);
    for (const e of index.entries) {
      assert.ok(!seen.has(e.imageId), `image ${e.imageId} appears once`);
      seen.add(e.imageId);
    }
    indexed += index.entries.length;
  }
  const sourceImages = fs.readdirSync(dataset).reduce((n, id) => n + fs.readdirSync(path.join(dataset, id)).length, 0);
  assert.equal(indexed + manifest.quality.skipped.length, sourceImages, 'every source image is sharded or reported, none twice');
});
