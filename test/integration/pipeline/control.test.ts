/**
 * Controlling a running pipeline: the stopTraining signal ends training early and the pipeline goes
 * on to evaluate and promote the best checkpoint; cancelling the workflow cancels the training
 * activity, which saves a checkpoint before it stops.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { useStack, type TestStack } from '../../support/stack';
import { subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig, TINY_TRAINING } from '../../support/pipeline-fixtures';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { latestCompleteCheckpoint } from '../../../lib/train/checkpoint';
import { livePipelineStatus } from '../../../cli/pipeline-status';
import type { PipelineResult } from '../../../lib/pipeline/status';
import { trainingPipeline, pipelineStatusQuery, stopTrainingSignal } from '../../../workflows/training-pipeline';

let stack: TestStack;
let dataset: string;
let workers: InProcessWorkers;

before(async () => {
  stack = await useStack('control');
  dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
  workers = await startInProcessWorkers(stack);
});

after(async () => {
  await workers?.stop();
  await stack?.close();
});

/** A training long enough to be interrupted (hundreds of tiny steps), checkpointing rarely. */
function longTraining(runId: string, checkpointEverySteps: number) {
  return tinyPipelineConfig(dataset, workers.queues, {
    runId,
    training: { ...TINY_TRAINING, phase1: { steps: 2, lr: 1e-3 }, phase2: { steps: 5000, lr: 1e-4 }, checkpointEverySteps, stopCheckEverySteps: 2 },
  });
}

async function trainingStep(handle: WorkflowHandle, atLeast: number): Promise<number> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const st = await livePipelineStatus(handle);
    const step = Number(st.stages.train.progress?.step ?? -1);
    if (st.stage === 'train' && step >= atLeast) return step;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error('training did not reach the step in time');
}

test('stopTraining: training stops early and the pipeline evaluates and promotes the best checkpoint', { timeout: 300_000 }, async () => {
  const handle = await stack.client.workflow.start(trainingPipeline, { taskQueue: workers.queues.cpu, workflowId: `control-stop-${Date.now()}`, args: [longTraining('control-stop', 4)] });
  await trainingStep(handle, 6);
  await handle.signal(stopTrainingSignal, { reason: 'test' });
  const result = (await handle.result()) as PipelineResult;
  assert.equal(result.training.stoppedEarly, true);
  assert.ok(result.training.steps < 5002, `stopped at step ${result.training.steps} of 5002`);
  const st = await handle.query(pipelineStatusQuery);
  assert.equal(st.stopRequested, true);
  assert.equal(st.stages.evaluate.state, 'done');
  assert.equal(st.stages.promote.state, 'done');
  assert.ok(await stack.store.exists(result.evalReportKey));
});

test('cancelling the pipeline cancels training, which saves a checkpoint first', { timeout: 300_000 }, async () => {
  // No periodic checkpoints (only epoch ends): the guarantee is that no progress reached before the cancel is lost.
  const handle = await stack.client.workflow.start(trainingPipeline, { taskQueue: workers.queues.cpu, workflowId: `control-cancel-${Date.now()}`, args: [longTraining('control-cancel', 100_000)] });
  const step = await trainingStep(handle, 5);
  await handle.cancel();
  await assert.rejects(handle.result(), (e: unknown) => e instanceof WorkflowFailedError && /cancel/i.test(String(e.cause?.name ?? e.message)));
  const ckpt = await latestCompleteCheckpoint(stack.store, 'control-cancel');
  assert.ok(ckpt, 'the cancelled training saved a checkpoint');
  assert.ok(ckpt.meta.step >= step, `checkpoint at step ${ckpt.meta.step}, cancel requested after step ${step}: progress was lost`);
  const st = await handle.query(pipelineStatusQuery).catch(() => undefined);
  if (st) assert.equal(st.stages.train.state, 'cancelled');
});
