/**
 * Every workflow schedules its activities with the shared retry policy: each is started on a real Temporal
 * with no worker on its activities' queue, and the retry policy of its first scheduled activity, as the
 * server recorded it, must refuse every permanent error type. (The pipeline's later activities are checked
 * from a full run's history in stop-resume.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { Workflow } from '@temporalio/common';
import { useStack, type TestStack } from '../../support/stack';
import { tinyPipelineConfig } from '../../support/pipeline-fixtures';
import { createSiamfaceWorker } from '../../../workers/worker-options';
import { NON_RETRYABLE_ERROR_TYPES } from '../../../lib/pipeline/retry';
import { trainingPipeline } from '../../../workflows/training-pipeline';
import { batchVerify } from '../../../workflows/batch-verify';
import { evaluateModel } from '../../../workflows/evaluate-model';
import { pingWorkflow } from '../../../workflows/ping';
import { trainOnlyWorkflow } from '../../../workflows/train-only';

let stack: TestStack;
let worker: Worker;
let running: Promise<void>;
let queue: string;
/** Nobody polls this queue: activities scheduled there wait, so the test reads their options and terminates. */
let unserved: string;

before(async () => {
  stack = await useStack('retrypolicies');
  queue = stack.queue('wf');
  unserved = stack.queue('unserved');
  const temporalCfg = { address: stack.info.temporal.address, namespace: stack.info.temporal.namespace };
  ({ worker } = await createSiamfaceWorker({ taskQueue: queue, activities: {}, withWorkflows: true, workflowBundle: await stack.workflowBundle(), connection: stack.nativeConnection, temporal: temporalCfg }));
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await stack?.close();
});

const cases: [Workflow, string, unknown][] = [
  [trainingPipeline, 'planPipeline', () => tinyPipelineConfig('/nowhere', { cpu: unserved, gpu: unserved })],
  [trainOnlyWorkflow, 'trainModel', () => ({ train: { runId: 'r', datasetId: 'd', manifestKey: 'm.json', pairsKeys: { train: 'p.csv' } }, taskQueue: unserved })],
  [batchVerify, 'prepareBatchJob', () => ({ jobId: 'j', input: 'pairs.csv', taskQueue: unserved })],
  [evaluateModel, 'prepareEvaluation', () => ({ input: 'pairs.csv', taskQueue: unserved })],
  // No task queue option: its activity goes to the workflow's own queue, where this worker runs no activities.
  [pingWorkflow, 'pingStorage', () => ({ message: 'hi' })],
];

for (const [workflow, activityType, input] of cases) {
  const workflowType = workflow.name;
  test(`${workflowType} schedules ${activityType} with every non-retryable error type`, { timeout: 60_000 }, async () => {
    const handle = await stack.client.workflow.start(workflow, { taskQueue: queue, workflowId: `retry-${workflowType}-${Date.now()}`, args: [(input as () => unknown)()] });
    try {
      const deadline = Date.now() + 30_000;
      let attrs: temporal.api.history.v1.IActivityTaskScheduledEventAttributes | undefined;
      while (!attrs && Date.now() < deadline) {
        const history = await handle.fetchHistory();
        attrs = history.events?.find((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)?.activityTaskScheduledEventAttributes ?? undefined;
        if (!attrs) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(attrs, `${workflowType} scheduled no activity`);
      assert.equal(attrs.activityType?.name, activityType);
      const listed = attrs.retryPolicy?.nonRetryableErrorTypes ?? [];
      for (const t of NON_RETRYABLE_ERROR_TYPES) assert.ok(listed.includes(t), `${workflowType}: ${activityType} would retry ${t} (lists ${listed.join(', ')})`);
      assert.ok(Number(attrs.retryPolicy?.maximumAttempts) >= 1);
    } finally {
      await handle.terminate('test done');
    }
  });
}
