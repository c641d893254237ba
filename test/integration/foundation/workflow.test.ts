import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, type TestStack } from '../../support/stack';
import { createSiamfaceWorker } from '../../../workers/worker-options';
import { cpuActivities } from '../../../activities';
import { pingWorkflow } from '../../../workflows/ping';

let stack: TestStack;
before(async () => {
  stack = await useStack('workflow');
});
after(async () => stack?.close());

test('a workflow runs an activity end to end on the real Temporal server and MinIO', async () => {
  const taskQueue = stack.queue('cpu');
  const { worker } = await createSiamfaceWorker({
    taskQueue,
    activities: cpuActivities({ store: stack.store }),
    withWorkflows: true,
    workflowBundle: await stack.workflowBundle(),
    connection: stack.nativeConnection,
    temporal: { address: stack.info.temporal.address, namespace: stack.info.temporal.namespace },
  });
  const result = await worker.runUntil(
    stack.client.workflow.execute(pingWorkflow, { taskQueue, workflowId: `ping-${Date.now()}`, args: [{ message: 'héllo siamface' }] }),
  );
  assert.equal(result.echoed, 'héllo siamface');
  assert.equal(result.bytes, Buffer.byteLength('héllo siamface'));
  assert.equal(await stack.store.exists(result.key), false, 'the activity cleaned up its object');
});
