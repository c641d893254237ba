/**
 * The resume guarantee on the real stack: a GPU worker process (node dist/workers/gpu-worker.js)
 * trains through Temporal, is SIGKILLed mid-training, a new worker process picks up the retried
 * activity, which continues from the last checkpoint (the step counter continues) and finishes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { useStack, type TestStack } from '../../support/stack';
import { createSiamfaceWorker } from '../../../workers/worker-options';
import { latestCompleteCheckpoint } from '../../../lib/train/checkpoint';
import { runJsonKey } from '../../../lib/train/run-layout';
import type { TrainModelResult } from '../../../lib/train/train-model';
import type { TrainOnlyInput } from '../../../workflows/train-only';
import { TINY_TRAIN_CONFIG, writeTinyLfwDataset, type TinyDataset } from './lfw-shards';
import { trainOnlyWorkflow } from '../../../workflows/train-only';

const { stepsPerEpoch: _cap, stopCheckEverySteps: _stopCheck, ...RESUME_BASE } = TINY_TRAIN_CONFIG;
const GPU_WORKER = path.resolve(__dirname, '../../../workers/gpu-worker.js');
let stack: TestStack;
let data: TinyDataset;
const children: ChildProcess[] = [];
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-train-resume-'));

before(async () => {
  stack = await useStack('train-resume');
  data = await writeTinyLfwDataset(stack.store, { datasetId: 'tiny', imageSize: 40, trainIdentities: 8, valIdentities: 3, imagesPerIdentity: 5, shardSize: 16, trainPairs: 80, valPairs: 12 });
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await stack?.close();
});

function startGpuWorker(queue: string, n: number): { child: ChildProcess; ready: Promise<void> } {
  const log = fs.openSync(path.join(logDir, `gpu-worker-${n}.log`), 'w');
  const child = spawn(process.execPath, [GPU_WORKER], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.info.temporal.address,
      TEMPORAL_NAMESPACE: stack.info.temporal.namespace,
      SIAMFACE_S3_ENDPOINT: stack.s3.endpoint,
      SIAMFACE_S3_BUCKET: stack.s3.bucket,
      AWS_ACCESS_KEY_ID: stack.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
      SIAMFACE_GPU_TASK_QUEUE: queue,
      SIAMFACE_TF_BACKEND: 'wasm',
    },
    stdio: ['ignore', 'pipe', log],
  });
  children.push(child);
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      fs.appendFileSync(path.join(logDir, `gpu-worker-${n}.log`), b);
      out += b.toString();
      if (out.includes('polling task queue')) resolve();
    });
    child.on('exit', (code, signal) => reject(new Error(`gpu worker ${n} exited (${code ?? signal}) before polling; log in ${logDir}`)));
  });
  return { child, ready };
}

test('SIGKILL of the GPU worker mid-training: a new worker resumes from the last checkpoint and finishes', { timeout: 240_000 }, async () => {
  const gpuQueue = stack.queue('gpu');
  const cpuQueue = stack.queue('cpu');
  const runId = 'resume-after-kill';
  const { worker } = await createSiamfaceWorker({
    taskQueue: cpuQueue,
    activities: {},
    withWorkflows: true,
    workflowBundle: await stack.workflowBundle(),
    connection: stack.nativeConnection,
    temporal: { address: stack.info.temporal.address, namespace: stack.info.temporal.namespace },
  });
  const workflowWorker = worker.run();
  try {
    const first = startGpuWorker(gpuQueue, 1);
    await first.ready;
    const input: TrainOnlyInput = {
      taskQueue: gpuQueue,
      heartbeatTimeoutSeconds: 10,
      maximumAttempts: 3,
      train: {
        runId,
        datasetId: data.datasetId,
        manifestKey: data.manifestKey,
        pairsKeys: data.pairsKeys,
        // Whole epochs (no stepsPerEpoch cap), so the run is long enough to be killed mid-way.
        config: { ...RESUME_BASE, checkpointEverySteps: 5, keepCheckpoints: 3 },
      },
    };
    const handle = await stack.client.workflow.start(trainOnlyWorkflow, { taskQueue: cpuQueue, workflowId: `train-resume-${Date.now()}`, args: [input] });

    // Wait until training is well under way, then kill the worker without warning.
    let seen = 0;
    const deadline = Date.now() + 120_000;
    while (seen < 10) {
      if (Date.now() > deadline) throw new Error(`no checkpoint past step 10 within 120 s (logs in ${logDir})`);
      seen = (await latestCompleteCheckpoint(stack.store, runId))?.meta.step ?? 0;
      await new Promise((r) => setTimeout(r, 100));
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const atKill = (await latestCompleteCheckpoint(stack.store, runId))!.meta.step;
    assert.ok(atKill < 60, `killed mid-training (checkpoint at ${atKill} of 60)`);

    const second = startGpuWorker(gpuQueue, 2);
    await second.ready;
    const result = (await handle.result()) as TrainModelResult;

    assert.equal(result.steps, 60);
    assert.equal(result.totalSteps, 60);
    assert.ok(result.resumedFromStep !== undefined, 'the retry resumed from a checkpoint');
    assert.equal(result.resumedFromStep, atKill, 'from the last checkpoint written before the kill');
    const run = await stack.store.getJson<{ attempts: { resumedFromStep: number | null; backend: string }[]; status: string }>(runJsonKey(runId));
    assert.deepEqual(run.attempts.map((a) => a.resumedFromStep), [null, atKill]);
    assert.equal(run.status, 'completed');
    assert.ok(run.attempts.every((a) => a.backend === 'wasm'));
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt).filter((a): a is number => typeof a === 'number');
    assert.deepEqual(attempts, [2], 'the activity completed on its second attempt');
    assert.ok(await stack.store.exists(`${result.modelKey}siamface-model.json`));
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  } finally {
    worker.shutdown();
    await workflowWorker;
  }
});
