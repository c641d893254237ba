/**
 * Determinism guard: a recorded history of a complete trainingPipeline run is replayed against the
 * current workflow code. A change that would break running workflows fails here. After an intended,
 * versioned change, regenerate the fixture (test/support/record-pipeline-history.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { PROJECT_ROOT } from '../../support/shared-data';
import { loadWorkflowBundle } from '../../support/stack';
import { LOCAL_DEFAULTS } from '../../../lib/config';

const FIXTURE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'pipeline', 'training-pipeline-history.json');

test('the recorded trainingPipeline history replays against the current workflow code', async () => {
  const raw = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
  const history = historyFromJSON(raw);
  const types = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
  assert.deepEqual(types, ['planPipeline', 'fetchDataset', 'shardDataset', 'generatePairs', 'trainModel', 'evaluateRun', 'promoteRun'], 'the fixture is a complete pipeline run');
  const workflowBundle = await loadWorkflowBundle();
  await Worker.runReplayHistory({ workflowBundle }, history, 'replay-fixture');
});

test('the recorded history holds no secret', () => {
  const text = fs.readFileSync(FIXTURE, 'utf8');
  // The recording ran with the local stack's default S3 secret in the workers' environment.
  assert.ok(!text.includes(LOCAL_DEFAULTS.s3SecretKey));
  assert.ok(!/KAGGLE_KEY|secretAccessKey|AWS_SECRET/i.test(text));
});
