/**
 * `siamface evaluate` end to end on the real stack: a tiny model trained and promoted by the pipeline
 * is evaluated through the CLI on a labelled pairs file (uploaded, embedded as a batch job, scored at the
 * model's own validation threshold), with a row pointing at a missing image counted as a per-row error;
 * unlabelled and one-class pair files are refused before anything is written; a rerun resumes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { cliEnv, useStack, type TestStack } from '../../support/stack';
import { subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig } from '../../support/pipeline-fixtures';
import { testInputDir } from '../../support/test-policy';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { readModelCard } from '../../../lib/registry/versions';
import type { EvaluationSummary } from '../../../lib/eval/evaluate-model';
import type { EvalReport } from '../../../lib/eval/types';
import { trainingPipeline } from '../../../workflows/training-pipeline';

const DIST = path.resolve(__dirname, '..', '..', '..');
let stack: TestStack;
let workers: InProcessWorkers;
let dataset: string;
let version: number;
const tmp = testInputDir('evaluate');

before(async () => {
  stack = await useStack('evaluate-model');
  workers = await startInProcessWorkers(stack);
  dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 4 });
  const result = (await stack.client.workflow.execute(trainingPipeline, {
    taskQueue: workers.queues.cpu,
    workflowId: `evaluate-train-${Date.now()}`,
    args: [tinyPipelineConfig(dataset, workers.queues, { promotion: { modelName: 'tiny-eval' } })],
  })) as { promotion: { outcome: string; version: number } };
  assert.equal(result.promotion.outcome, 'promoted');
  version = result.promotion.version;
});

after(async () => {
  await workers?.stop();
  await stack?.close();
});

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = cliEnv(stack, { SIAMFACE_CPU_TASK_QUEUE: workers.queues.cpu });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(DIST, 'cli', 'siamface.js'), 'evaluate', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Labelled pairs of the subset's images (relative paths), same and different, plus one row naming a missing image. */
function writePairs(name: string, opts: { labels?: boolean; onlySame?: boolean; missingRow?: boolean } = {}): { file: string; rows: number } {
  const ids = fs.readdirSync(dataset).sort();
  const files = ids.map((id) => fs.readdirSync(path.join(dataset, id)).sort().map((f) => `${id}/${f}`));
  const rows: [a: string, b: string, label: number][] = [];
  for (let i = 0; i < ids.length; i++) {
    rows.push([files[i][0], files[i][1], 1]);
    if (!opts.onlySame) rows.push([files[i][0], files[(i + 1) % ids.length][1], 0]);
  }
  if (opts.missingRow) rows.splice(3, 0, [files[0][0], 'Nobody/Nobody_0001.jpg', 0]);
  const body = rows.map((r) => (opts.labels === false ? r.slice(0, 2) : r).join(','));
  const file = path.join(tmp, name);
  // The file sits beside the images' folders: relative paths resolve against its folder.
  for (const id of ids) if (!fs.existsSync(path.join(tmp, id))) fs.symlinkSync(path.join(dataset, id), path.join(tmp, id));
  fs.writeFileSync(file, `${opts.labels === false ? 'a,b' : 'a,b,label'}\n${body.join('\n')}\n`);
  return { file, rows: body.length };
}

test('siamface evaluate --json: the pipeline protocol on any labelled pairs, missing images counted per row', { timeout: 300_000 }, async () => {
  const { file, rows } = writePairs('pairs.csv', { missingRow: true });
  const run = await cli('--model', `tiny-eval:${version}`, '--pairs', file, '--json', '--chunk-size', '8');
  assert.equal(run.status, 0, run.stderr + run.stdout);
  const summary = JSON.parse(run.stdout) as EvaluationSummary;
  assert.deepEqual(summary.model, { name: 'tiny-eval', version });
  assert.equal(summary.rows, rows);
  assert.equal(summary.scored, rows - 1);
  assert.deepEqual(summary.errors, { total: 1, byCode: { not_found: 1 } });
  for (const k of ['rocAuc', 'eer', 'kFoldAccuracy', 'tarAtFar1e2', 'tarAtFar1e3', 'brier'] as const) {
    assert.ok(summary.metrics[k] >= 0 && summary.metrics[k] <= 1, `${k} = ${summary.metrics[k]}`);
  }
  // The threshold and calibration are the model's own, chosen on its validation pairs.
  const card = await readModelCard(stack.store, 'tiny-eval', version);
  assert.equal(summary.threshold.value, card.evaluation.threshold);
  const report = await stack.store.getJson<EvalReport>(summary.reportKey);
  assert.equal(report.threshold.chosenOn, 'val');
  assert.equal(report.pairs.test.pairs, rows - 1);
  assert.equal(report.calibration.intercept, card.evaluation.calibration.intercept);
  assert.match((await stack.store.getBuffer(summary.htmlKey)).toString(), /<html/i);

  // The same file again: the same evaluation, resumed (already complete), not a second one.
  const again = await cli('--model', `tiny-eval:${version}`, '--pairs', file, '--json', '--chunk-size', '8');
  assert.equal(again.status, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as EvaluationSummary).evalId, summary.evalId);
});

test('pairs without labels, or of one class only, are refused with the reason and nothing is written', { timeout: 300_000 }, async () => {
  const written = async () => {
    const keys: string[] = [];
    for (const prefix of ['evaluations/', 'jobs/']) for await (const o of stack.store.list(prefix)) if (!o.key.startsWith('evaluations/inputs/')) keys.push(o.key);
    return keys;
  };
  const before = new Set(await written());
  const unlabelled = await cli('--model', 'tiny-eval', '--pairs', writePairs('unlabelled.csv', { labels: false }).file);
  assert.notEqual(unlabelled.status, 0);
  assert.match(unlabelled.stderr, /no label column/);
  const oneClass = await cli('--model', 'tiny-eval', '--pairs', writePairs('same-only.csv', { onlySame: true }).file);
  assert.notEqual(oneClass.status, 0);
  assert.match(oneClass.stderr, /only same-person pairs .* both classes/);
  assert.deepEqual((await written()).filter((k) => !before.has(k)), [], 'no report, summary or job written');
});
