/**
 * A stop request binds only the pipeline run that asked: after a stopTraining signal and a cancel,
 * `siamface pipeline resume` (a new run of the same workflow id) trains on to the planned steps instead
 * of stopping at its first check. The resumed run's history also shows the retry policy and the
 * promote options every pipeline activity was scheduled with.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { cliEnv, useStack, type TestStack } from '../../support/stack';
import { subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig, TINY_TRAINING } from '../../support/pipeline-fixtures';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { latestCompleteCheckpoint } from '../../../lib/train/checkpoint';
import { runPrefix } from '../../../lib/train/run-layout';
import { NON_RETRYABLE_ERROR_TYPES } from '../../../lib/pipeline/retry';
import type { PipelineResult } from '../../../lib/pipeline/status';
import { trainingPipeline, stopTrainingSignal } from '../../../workflows/training-pipeline';

const DIST = path.resolve(__dirname, '..', '..', '..');
const RUN = 'stop-resume';
const PHASE2_STEPS = 200;

let stack: TestStack;
let dataset: string;
let workers: InProcessWorkers;

before(async () => {
  stack = await useStack('stopresume');
  dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
  workers = await startInProcessWorkers(stack);
});

after(async () => {
  await workers?.stop();
  await stack?.close();
});

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 180_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function cli(...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(DIST, 'cli', 'siamface.js'), ...args], { env: cliEnv(stack), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (status) => resolve({ status, out }));
  });
}

async function scheduled(handle: WorkflowHandle, runId: string) {
  const history = await stack.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
  return (history.events ?? []).filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED).map((e) => e.activityTaskScheduledEventAttributes!);
}

const seconds = (d: { seconds?: unknown } | null | undefined) => Number(d?.seconds ?? 0);

test('stop, cancel, then pipeline resume: the resumed run ignores the old stop request and trains to the planned steps', { timeout: 600_000 }, async () => {
  // The trainer checks for a stop only at the start of each attempt (stopCheckEverySteps is huge), so the first
  // run cannot act on the request before the cancel, and the resume's first check is the one the old bug failed.
  const cfg = tinyPipelineConfig(dataset, workers.queues, {
    runId: RUN,
    training: { ...TINY_TRAINING, phase1: { steps: 2, lr: 1e-3 }, phase2: { steps: PHASE2_STEPS, lr: 1e-4 }, checkpointEverySteps: 10, stopCheckEverySteps: 100_000 },
  });
  const workflowId = `stop-resume-${Date.now()}`;
  const first = await stack.client.workflow.start(trainingPipeline, { taskQueue: workers.queues.cpu, workflowId, args: [cfg] });
  // A checkpoint in S3: training is under way and a resume has something to resume from.
  await waitFor('a first checkpoint', async () => ((await latestCompleteCheckpoint(stack.store, RUN))?.meta.step ? true : undefined));
  await first.signal(stopTrainingSignal, { reason: 'test' });
  const request = await waitFor('the stop request in S3', async () => (await stack.store.listAll(`${runPrefix(RUN)}control/`))[0]);
  await first.cancel();
  await assert.rejects(first.result(), (e: unknown) => e instanceof WorkflowFailedError);
  const cut = await latestCompleteCheckpoint(stack.store, RUN);
  assert.ok(cut && cut.meta.step < 2 + PHASE2_STEPS, `the first run was cut short (checkpoint at ${cut?.meta.step})`);
  assert.ok(await stack.store.exists(request.key), 'the old stop request is still there: the fix must not depend on cleaning it up');

  const resume = await cli('pipeline', 'resume', workflowId, '--no-follow');
  assert.equal(resume.status, 0, resume.out);
  const resumed = stack.client.workflow.getHandle(workflowId);
  const result = (await resumed.result()) as PipelineResult;
  assert.equal(result.training.stoppedEarly, false, 'the resumed run was stopped by the first run’s request');
  assert.equal(result.training.steps, 2 + PHASE2_STEPS);
  assert.ok((result.training.resumedFromStep ?? 0) >= cut.meta.step, `resumed from ${result.training.resumedFromStep}, checkpoint was at ${cut.meta.step}`);
  assert.equal(result.promotion.outcome === 'skipped', false);

  // What the workflow code really scheduled, as Temporal recorded it.
  const firstRunId = first.firstExecutionRunId;
  const resumedRunId = (await resumed.describe()).runId;
  assert.notEqual(resumedRunId, firstRunId);
  const acts = [...(await scheduled(first, firstRunId)), ...(await scheduled(resumed, resumedRunId))];
  const types = new Set(acts.map((a) => a.activityType?.name));
  for (const t of ['planPipeline', 'fetchDataset', 'shardDataset', 'generatePairs', 'trainModel', 'requestTrainingStop', 'evaluateRun', 'promoteRun']) assert.ok(types.has(t), `${t} scheduled`);
  for (const a of acts) {
    const listed = a.retryPolicy?.nonRetryableErrorTypes ?? [];
    for (const t of NON_RETRYABLE_ERROR_TYPES) assert.ok(listed.includes(t), `${a.activityType?.name} retries ${t}: ${listed.join(', ')}`);
  }
  const promote = acts.find((a) => a.activityType?.name === 'promoteRun')!;
  assert.ok(seconds(promote.heartbeatTimeout) > 0, 'promoteRun has a heartbeat timeout');
  assert.ok(seconds(promote.startToCloseTimeout) > 120, `promoteRun start-to-close ${seconds(promote.startToCloseTimeout)} s: longer than the quick 2 minutes`);
});
