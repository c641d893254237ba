/** withLiveProgress: a running stage's progress and retry state come from its pending activity, not the workflow. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PIPELINE_STAGES, withLiveProgress, type PendingStageActivity, type PipelineStatus } from '../../../lib/pipeline/status';
import { heartbeatIntervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS } from '../../../activities/support';

function trainingStatus(): PipelineStatus {
  const stages = Object.fromEntries(PIPELINE_STAGES.map((s) => [s, { state: 'done' }])) as PipelineStatus['stages'];
  stages.train = { state: 'running', startedAt: '2026-12-01T10:00:00.000Z' };
  stages.evaluate = { state: 'pending' };
  stages.promote = { state: 'pending' };
  return { stage: 'train', stages, outputs: {}, metrics: {}, stopRequested: false };
}

const train = (over: Partial<PendingStageActivity>): PendingStageActivity => ({ activityType: 'trainModel', state: 'started', attempt: 1, ...over });

test('the running stage shows its heartbeat details and last heartbeat time; other stages are unchanged', () => {
  const before = trainingStatus();
  const st = withLiveProgress(before, [train({ heartbeatDetails: { step: 42, loss: 0.31 }, lastHeartbeatAt: '2026-12-01T10:05:00.000Z' })]);
  assert.deepEqual(st.stages.train.progress, { step: 42, loss: 0.31 });
  assert.equal(st.stages.train.lastHeartbeatAt, '2026-12-01T10:05:00.000Z');
  assert.equal(st.stages.train.retry, undefined);
  assert.deepEqual(st.stages.fetch, { state: 'done' });
  assert.equal(before.stages.train.progress, undefined, 'the query result is not mutated');
});

test('a heartbeat timeout of attempt 1 waiting for its retry reads "attempt 1 lost its worker at ...; retry pending"', () => {
  const st = withLiveProgress(trainingStatus(), [
    train({ state: 'scheduled', attempt: 2, heartbeatDetails: { step: 150 }, lastWorkerIdentity: 'siamface-gpu@4242', lastAttemptEndedAt: '2026-12-01T10:06:00.000Z', lastFailure: { message: 'activity Heartbeat timeout', heartbeatTimeout: true } }),
  ]);
  assert.equal(st.stages.train.retry, 'attempt 1 lost its worker (siamface-gpu@4242) at 2026-12-01T10:06:00.000Z; retry pending');
  assert.equal(st.stages.train.attempt, 2);
  assert.deepEqual(st.stages.train.progress, { step: 150 }, 'the lost attempt\'s last progress is still shown');
  // What the server gives for a heartbeat timeout: no end time, so the lost attempt's last heartbeat dates it.
  const noEnd = withLiveProgress(trainingStatus(), [train({ state: 'scheduled', attempt: 2, lastHeartbeatAt: '2026-12-01T10:05:57.000Z', lastFailure: { message: 'activity Heartbeat timeout', heartbeatTimeout: true } })]);
  assert.equal(noEnd.stages.train.retry, 'attempt 1 lost its worker at 2026-12-01T10:05:57.000Z (its last heartbeat); retry pending');
});

test('a retried attempt that is running says so, and other failures carry their message', () => {
  const running = withLiveProgress(trainingStatus(), [train({ state: 'started', attempt: 3, lastAttemptEndedAt: '2026-12-01T10:06:00.000Z', lastFailure: { message: 'activity Heartbeat timeout', heartbeatTimeout: true } })]);
  assert.equal(running.stages.train.retry, 'attempt 2 lost its worker at 2026-12-01T10:06:00.000Z; attempt 3 running');
  const failed = withLiveProgress(trainingStatus(), [train({ state: 'scheduled', attempt: 2, lastAttemptEndedAt: '2026-12-01T10:06:00.000Z', lastFailure: { message: 'trainModel: S3 unavailable', heartbeatTimeout: false } })]);
  assert.equal(failed.stages.train.retry, 'attempt 1 failed at 2026-12-01T10:06:00.000Z: trainModel: S3 unavailable; retry pending');
});

test('activities that serve no pipeline stage are ignored', () => {
  const st = withLiveProgress(trainingStatus(), [{ activityType: 'requestTrainingStop', state: 'started', attempt: 1, heartbeatDetails: { x: 1 } }]);
  assert.deepEqual(st, trainingStatus());
});

test('SIAMFACE_HEARTBEAT_INTERVAL_MS: default, a valid value, and an error that names the variable and the value', () => {
  assert.equal(heartbeatIntervalMs({}), DEFAULT_HEARTBEAT_INTERVAL_MS);
  assert.equal(heartbeatIntervalMs({ SIAMFACE_HEARTBEAT_INTERVAL_MS: '250' }), 250);
  for (const bad of ['0', '-5', '1.5', 'soon', '600000']) {
    assert.throws(() => heartbeatIntervalMs({ SIAMFACE_HEARTBEAT_INTERVAL_MS: bad }), (e: Error) => e.message.includes('SIAMFACE_HEARTBEAT_INTERVAL_MS') && e.message.includes(`'${bad}'`));
  }
});
