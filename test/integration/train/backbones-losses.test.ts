/**
 * Every backbone x loss through the real pipeline (Temporal + MinIO, a GPU worker process): a tiny run of
 * each trains, survives a SIGKILL of the GPU worker (a new worker resumes each run from its checkpoint),
 * is stopped early, evaluated and promoted, and its model card says what it is. faceres34 starts from
 * face-api.js's weights and is exported to ONNX like DenseNet. The runs are far longer than the test
 * waits (their speeds differ by 100x), so none can finish before the kill; the stop request ends them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { useStack, type TestStack } from '../../support/stack';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { subsetOf } from '../../support/shared-data';
import { latestCompleteCheckpoint } from '../../../lib/train/checkpoint';
import { readModelCard } from '../../../lib/registry/versions';
import { readOnnxRecord } from '../../../lib/registry/onnx-artifact';
import type { PipelineResult } from '../../../lib/pipeline/status';
import type { PipelineConfigInput } from '../../../lib/pipeline/config';
import { stopTrainingSignal, trainingPipeline, pipelineStatusQuery } from '../../../workflows/training-pipeline';

let stack: TestStack;
let workers: InProcessWorkers;
let folder: string;
const gpuWorkers: WorkerProcess[] = [];

const BACKBONES = {
  densenet121: {
    datasetId: 'bb-densenet',
    preprocessing: { imageSize: 32, crop: 'centre' as const, shardSize: 20 },
    model: { blocks: [1, 1], growthRate: 8, headUnits: [16, 16], embeddingDim: 8 },
    weights: { kind: 'none' as const },
  },
  faceres34: {
    datasetId: 'bb-faceres',
    preprocessing: { imageSize: 150, crop: 'face-chip' as const, shardSize: 20 },
    model: { backbone: 'faceres34' },
    weights: { kind: 'pretrained' as const },
  },
};
const LOSSES = ['contrastive', 'cosface', 'arcface'] as const;

function pipelineInput(backbone: keyof typeof BACKBONES, loss: (typeof LOSSES)[number]): PipelineConfigInput {
  const b = BACKBONES[backbone];
  return {
    dataset: { source: { kind: 'folder', location: folder }, id: b.datasetId },
    preprocessing: b.preprocessing,
    split: { seed: 0, fractions: { train: 0.6, val: 0.2, test: 0.2 } },
    pairs: { seed: 1, perSplit: { train: 40, val: 12, test: 12 } },
    training: {
      model: b.model,
      weights: b.weights,
      loss,
      batchSize: 4,
      phase1: { steps: 2, lr: 1e-3 },
      phase2: { steps: 100_000, lr: 1e-5 },
      warmupSteps: 1,
      checkpointEverySteps: 2,
      keepCheckpoints: 1,
      stopCheckEverySteps: 1,
      valPairsLimit: 12,
      augment: { flip: true, scaleJitter: 0, brightness: 0, contrast: 0 },
    },
    promotion: { modelName: `bb-${backbone === 'faceres34' ? 'faceres' : 'densenet'}-${loss}` },
    taskQueues: workers.queues,
    // Six runs share one worker's event loop: a generous heartbeat timeout (the retry after the kill waits for it).
    heartbeatTimeoutSeconds: { data: 60, train: 60, evaluate: 60 },
  };
}

before(async () => {
  stack = await useStack('backbones-losses');
  // 10 identities x 4 images of lfw-train: every split has identities with several images.
  folder = subsetOf('lfw-train', { identities: 10, minImages: 4, maxImages: 4 });
  workers = await startInProcessWorkers(stack, { gpu: false });
});

after(async () => {
  for (const w of gpuWorkers) await w.kill('SIGKILL');
  await workers?.stop();
  await stack?.close();
  fs.rmSync(folder, { recursive: true, force: true });
});

test('densenet121 and faceres34, each with contrastive, CosFace and ArcFace: train, resume after a kill, stop, promote', { timeout: 900_000 }, async () => {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-bb-'));
  const gpuWorker = (name: string) => {
    const w = startWorkerProcess('gpu', { info: stack.info, s3: stack.s3, queues: workers.queues, logDir, name, env: { SIAMFACE_GPU_CONCURRENCY: '6' } });
    gpuWorkers.push(w);
    return w.ready;
  };
  await gpuWorker('gpu-1');
  const runs = (Object.keys(BACKBONES) as (keyof typeof BACKBONES)[]).flatMap((backbone) => LOSSES.map((loss) => ({ backbone, loss, input: pipelineInput(backbone, loss) })));
  const handles = await Promise.all(
    runs.map((r) => stack.client.workflow.start(trainingPipeline, { taskQueue: workers.queues.cpu, workflowId: `bb-${r.backbone}-${r.loss}-${Date.now()}`, args: [r.input] })),
  );

  // Kill the GPU worker once every run has a checkpoint and none has finished.
  const runIdOf = async (i: number) => (await handles[i].query(pipelineStatusQuery)).runId;
  const deadline = Date.now() + 600_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('not every run reached a checkpoint within 10 minutes');
    const steps = await Promise.all(
      runs.map(async (_, i) => {
        const runId = await runIdOf(i);
        return runId ? ((await latestCompleteCheckpoint(stack.store, runId))?.meta.step ?? 0) : 0;
      }),
    );
    if (steps.every((s) => s >= 2)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await gpuWorkers[0].kill('SIGKILL');
  const killedAt = await Promise.all(runs.map(async (_, i) => (await latestCompleteCheckpoint(stack.store, (await runIdOf(i))!))!.meta.step));
  await gpuWorker('gpu-2');
  // The resumed attempts stop at their first check of the stop request, export the best weights and go on.
  await Promise.all(handles.map((h) => h.signal(stopTrainingSignal, { reason: 'test' })));

  const results = (await Promise.all(handles.map((h) => h.result()))) as PipelineResult[];
  for (const [i, r] of runs.entries()) {
    const res = results[i];
    const what = `${r.backbone} x ${r.loss}`;
    assert.equal(res.training.resumedFromStep, killedAt[i], `${what}: resumed from the last checkpoint before the kill`);
    assert.ok(res.training.stoppedEarly, `${what}: ended by the stop request`);
    assert.ok(res.training.steps >= killedAt[i] && res.training.steps < 100_002, `${what}: steps ${res.training.steps}`);
    assert.equal(res.promotion.outcome, 'promoted', `${what}: ${JSON.stringify(res.promotion)}`);
    const card = await readModelCard(stack.store, (r.input.promotion as { modelName: string }).modelName, res.promotion.version!);
    assert.equal(card.model.backbone, r.backbone === 'faceres34' ? 'faceres34' : 'densenet(blocks=1-1,growth=8)');
    assert.equal((card.model.training?.loss as { kind: string }).kind, r.loss);
    const pre = card.model.preprocessing as { mean: number[]; std: number[]; crop: string; datasetImageSize: number };
    if (r.backbone === 'faceres34') {
      assert.deepEqual(pre.std, [1, 1, 1], "face-api.js's normalisation is on the card");
      assert.equal(pre.crop, 'face-chip');
      assert.equal(card.model.inputSize, 150);
      assert.match(String((card.model.training?.initialWeights as { source: string }).source), /@vladmandic\/face-api@/);
    } else {
      assert.deepEqual(pre.std, [0.229, 0.224, 0.225]);
    }
    const onnx = await readOnnxRecord(stack.store, card.name, card.version);
    assert.equal(onnx?.status, 'ready', `${what}: exported to ONNX and parity-checked (${JSON.stringify(onnx)})`);
  }
});
