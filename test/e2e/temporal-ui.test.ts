/**
 * Starts a trainingPipeline from the real Temporal Web UI (served by the dev server), in headless
 * Chromium, through its Start Workflow form with the README's JSON; then checks the running
 * workflow's status query and search attributes through the client.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { useStack, type TestStack } from '../support/stack';
import { chromiumPath, launchBrowser } from '../support/browser';
import { subsetOf } from '../support/shared-data';
import { tinyPipelineConfig } from '../support/pipeline-fixtures';
import { startInProcessWorkers, type InProcessWorkers } from '../support/in-process-workers';
import type { PipelineStatus } from '../../lib/pipeline/status';
import { pipelineStatusQuery } from '../../workflows/training-pipeline';

const outDir = path.join(process.env.SIAMFACE_TEST_OUTPUT ?? path.resolve('test-output'), 'e2e');
let stack: TestStack;
let workers: InProcessWorkers | undefined;

before(async () => {
  stack = await useStack('ui');
  fs.mkdirSync(outDir, { recursive: true });
});

after(async () => {
  await workers?.stop();
  await stack?.close();
});

test('a pipeline started from the Temporal UI Start Workflow form runs, answers its status query and carries search attributes', { skip: chromiumPath() ? false : 'no Chromium on this machine (infra/setup-browser.sh)' }, async () => {
  workers = await startInProcessWorkers(stack);
  const queues = workers.queues;

  const dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
  const input = tinyPipelineConfig(dataset, queues);
  const workflowId = `ui-e2e-${Date.now()}`;

  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${stack.info.temporal.uiUrl}/namespaces/${stack.info.temporal.namespace}/workflows/start-workflow`, { waitUntil: 'networkidle' });
    await page.fill('#workflowId', workflowId);
    await page.fill('#taskQueue', queues.cpu);
    await page.fill('#workflowType', 'trainingPipeline');
    // The Data field is a code editor: focus it and type the JSON the README documents.
    await page.getByLabel('Data').click();
    await page.keyboard.insertText(JSON.stringify(input));
    // Leave the editor first: it reformats the JSON on blur, and a click during that is lost.
    await page.click('#workflowType');
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(outDir, 'start-workflow-form.png'), fullPage: true });
    const started = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${workflowId}`), { timeout: 30_000 });
    await page.getByTestId('start-workflow-button').click();
    assert.equal((await started).status(), 200, 'the UI started the workflow');
    await page.goto(`${stack.info.temporal.uiUrl}/namespaces/${stack.info.temporal.namespace}/workflows/${workflowId}`, { waitUntil: 'networkidle' });
    await page.getByText('Running', { exact: false }).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(outDir, 'pipeline-running.png'), fullPage: true });
  } finally {
    await browser.close();
  }

  const handle = stack.client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  assert.equal(desc.type, 'trainingPipeline');
  assert.equal(desc.taskQueue, queues.cpu);

  // The status query answers while it runs; wait until the plan is made so the run id is known.
  let status: PipelineStatus | undefined;
  for (let i = 0; i < 120 && !(status?.runId && status.stage !== 'plan'); i++) {
    status = await handle.query(pipelineStatusQuery);
    if (!status.runId) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(status?.runId, 'the status query reports the run id');
  assert.notEqual(status.stages.plan.state, 'pending');

  const result = (await handle.result()) as { runId: string; promotion: { outcome: string } };
  assert.equal(result.runId, status.runId);
  const final = await handle.query(pipelineStatusQuery);
  assert.equal(final.stage, 'done');
  for (const s of ['fetch', 'shard', 'pairs', 'train', 'evaluate', 'promote'] as const) assert.equal(final.stages[s].state, 'done', `stage ${s}`);
  const sa = (await handle.describe()).searchAttributes as Record<string, unknown[]>;
  assert.deepEqual(sa.SiamfaceStage, ['done']);
  assert.deepEqual(sa.SiamfaceModel, ['tiny']);
  assert.deepEqual(sa.SiamfaceRunId, [result.runId]);
  assert.ok(fs.statSync(path.join(outDir, 'pipeline-running.png')).size > 10_000, 'a screenshot of the running workflow was saved');
});
