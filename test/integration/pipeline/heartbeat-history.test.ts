/**
 * Progress travels in heartbeats, never in history: a pipeline whose training heartbeats every 20 ms (timer heartbeats,
 * the worker's throttle lowered to match so they reach the server) sends hundreds of them, the training stage stays a
 * handful of history events, and the describe-based status shows the live progress from the heartbeat details.
 * A GPU worker process killed mid-training shows in that status as "attempt 1 lost its worker ...; retry pending".
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import type { Worker } from '@temporalio/worker';
import { cliEnv, useStack, type TestStack } from '../../support/stack';
import { subsetOf } from '../../support/shared-data';
import { tinyPipelineConfig, TINY_TRAINING } from '../../support/pipeline-fixtures';
import { startInProcessWorkers, type InProcessWorkers } from '../../support/in-process-workers';
import { startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { createSiamfaceWorker } from '../../../workers/worker-options';
import { gpuActivities } from '../../../activities';
import { livePipelineStatus } from '../../../cli/pipeline-status';
import type { PipelineStatus } from '../../../lib/pipeline/status';
import type { PipelineResult } from '../../../lib/pipeline/status';
import { trainingPipeline, stopTrainingSignal } from '../../../workflows/training-pipeline';

// Read by runStage's timer and by createSiamfaceWorker's heartbeat throttle.
process.env.SIAMFACE_HEARTBEAT_INTERVAL_MS = '20';

let stack: TestStack;
let dataset: string;
let cpu: InProcessWorkers;
let gpu: Worker;
let gpuRun: Promise<void>;
let trainHeartbeats = 0;
let gpuProcess: WorkerProcess | undefined;
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-heartbeat-'));

before(async () => {
  stack = await useStack('heartbeat');
  dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
  cpu = await startInProcessWorkers(stack, { gpu: false });
  const acts = gpuActivities({ store: stack.store });
  // Counts the heartbeats trainModel hands to the SDK (the real Context, wrapped for this activity only).
  const counted = {
    ...acts,
    trainModel: (input: Parameters<typeof acts.trainModel>[0]) => {
      const ctx = Context.current();
      const beat = ctx.heartbeat.bind(ctx);
      (ctx as { heartbeat: Context['heartbeat'] }).heartbeat = (details?: unknown) => {
        trainHeartbeats++;
        beat(details);
      };
      return acts.trainModel(input);
    },
  };
  const temporal = { address: stack.info.temporal.address, namespace: stack.info.temporal.namespace };
  gpu = (await createSiamfaceWorker({ taskQueue: cpu.queues.gpu, activities: counted, connection: stack.nativeConnection, temporal })).worker;
  gpuRun = gpu.run();
});

after(async () => {
  await gpuProcess?.kill();
  gpu?.shutdown();
  await gpuRun?.catch(() => undefined);
  await cpu?.stop();
  await stack?.close();
});

test('200+ training heartbeats keep the training stage under 100 history events; status shows their progress', { timeout: 300_000 }, async () => {
  const config = tinyPipelineConfig(dataset, cpu.queues, {
    runId: 'heartbeat-history',
    training: { ...TINY_TRAINING, phase1: { steps: 2, lr: 1e-3 }, phase2: { steps: 100_000, lr: 1e-4 }, checkpointEverySteps: 100_000, stopCheckEverySteps: 2 },
  });
  const handle = await stack.client.workflow.start(trainingPipeline, { taskQueue: cpu.queues.cpu, workflowId: `heartbeat-history-${Date.now()}`, args: [config] });

  // Run training until it has heartbeated 250 times and the status has shown live progress, then stop it early.
  const steps: number[] = [];
  const deadline = Date.now() + 200_000;
  while (trainHeartbeats < 250 || steps.length < 2) {
    assert.ok(Date.now() < deadline, `training sent ${trainHeartbeats} heartbeats, status showed steps [${steps.join(', ')}] before the deadline`);
    const st = await livePipelineStatus(handle);
    const step = st.stages.train.progress?.step;
    if (st.stages.train.state === 'running' && typeof step === 'number' && step !== steps[steps.length - 1]) steps.push(step);
    await new Promise((r) => setTimeout(r, 200));
  }
  await handle.signal(stopTrainingSignal, { reason: 'enough heartbeats' });
  const result = (await handle.result()) as PipelineResult;
  assert.equal(result.training.stoppedEarly, true);
  assert.ok(steps[steps.length - 1] > steps[0], `live progress advanced: steps seen [${steps.join(', ')}]`);

  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel');
  assert.ok(scheduled >= 0, 'the history has the trainModel activity');
  const scheduledId = String(events[scheduled].eventId);
  const closed = events.findIndex((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === scheduledId);
  assert.ok(closed > scheduled, 'trainModel completed');
  const trainingEvents = closed - scheduled + 1;
  assert.ok(trainHeartbeats >= 200, `${trainHeartbeats} heartbeats`);
  assert.ok(trainingEvents < 100, `${trainHeartbeats} heartbeats, ${trainingEvents} history events for the training stage`);
  assert.ok(events.length < 100, `${events.length} events in the whole pipeline's history`);
  console.log(`# ${trainHeartbeats} training heartbeats; training stage ${trainingEvents} history events, pipeline ${events.length}; status showed steps ${steps[0]}..${steps[steps.length - 1]}`);
});

test('a killed GPU worker shows in the status as "attempt 1 lost its worker ...; retry pending"', { timeout: 240_000 }, async () => {
  // A GPU queue only the worker process polls: once it is killed, the retry waits.
  const queues = { cpu: cpu.queues.cpu, gpu: stack.queue('gpu-lost') };
  gpuProcess = startWorkerProcess('gpu', { info: stack.info, s3: stack.s3, queues, logDir, name: 'gpu-lost', env: { SIAMFACE_TF_BACKEND: 'wasm' } });
  await gpuProcess.ready;
  const config = tinyPipelineConfig(dataset, queues, {
    runId: 'heartbeat-lost',
    training: { ...TINY_TRAINING, phase1: { steps: 2, lr: 1e-3 }, phase2: { steps: 100_000, lr: 1e-4 }, checkpointEverySteps: 100_000 },
    heartbeatTimeoutSeconds: { data: 30, train: 3, evaluate: 30 },
  });
  const handle = await stack.client.workflow.start(trainingPipeline, { taskQueue: queues.cpu, workflowId: `heartbeat-lost-${Date.now()}`, args: [config] });
  try {
    const waitForStatus = async (what: string, ok: (st: Awaited<ReturnType<typeof livePipelineStatus>>) => boolean) => {
      const deadline = Date.now() + 150_000;
      for (;;) {
        const st = await livePipelineStatus(handle);
        if (ok(st)) return st;
        assert.ok(Date.now() < deadline, `${what}; last train stage: ${JSON.stringify(st.stages.train)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await Promise.race([waitForStatus('training reached step 3', (st) => Number(st.stages.train.progress?.step ?? 0) >= 3), gpuProcess.unexpectedExit]);
    await gpuProcess.kill('SIGKILL');
    const st = await waitForStatus('the status names the lost attempt', (s) => s.stages.train.retry !== undefined);
    assert.match(st.stages.train.retry!, /^attempt 1 lost its worker \(gpu-lost-.*@\d+\) at \d{4}-\d\d-\d\dT[\d:.]+Z( \(its last heartbeat\))?; retry pending$/);
    assert.equal(st.stages.train.attempt, 2);
    assert.ok(Number(st.stages.train.progress?.step) >= 3, 'the lost attempt\'s last progress is kept');
    console.log(`# status: ${st.stages.train.retry}`);
    // The CLI says it too, on a line of its own; --json gives the same status as one document.
    const cli = path.resolve(__dirname, '..', '..', '..', 'cli', 'siamface.js');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'pipeline', 'status', handle.workflowId], { env: cliEnv(stack) });
    assert.match(stdout, /^stage train: attempt 1 lost its worker .*; retry pending$/m, stdout.slice(0, 2000));
    assert.match(stdout, /^ {2}train {5}running {2}.*step=\d+/m, stdout.slice(0, 2000));
    const json = JSON.parse((await promisify(execFile)(process.execPath, [cli, 'pipeline', 'status', handle.workflowId, '--json'], { env: cliEnv(stack) })).stdout) as {
      workflowId: string;
      execution: string;
      status: PipelineStatus;
    };
    assert.equal(json.workflowId, handle.workflowId);
    assert.equal(json.execution, 'RUNNING');
    assert.equal(json.status.stage, 'train');
    assert.match(json.status.stages.train.retry ?? '', /lost its worker/);
  } finally {
    await handle.terminate('test done').catch(() => undefined);
  }
});
