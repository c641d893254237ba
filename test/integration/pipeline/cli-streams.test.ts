/**
 * The pipeline and stack commands keep the CLI's streams apart: stdout holds only the data (a started or resumed
 * pipeline's workflow id, a pipeline's results, the stack's status), while "started ...", the Temporal UI link,
 * progress and errors go to stderr. No worker polls the queue here, so nothing runs: only the CLI is under test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { cliEnv, useStack, type TestStack } from '../../support/stack';
import { testInputDir } from '../../support/test-policy';

const CLI = path.resolve(__dirname, '..', '..', '..', 'cli', 'siamface.js');
let stack: TestStack;

before(async () => {
  stack = await useStack('cli-streams');
});

after(async () => {
  await stack?.close();
});

function cli(...args: string[]): { exited: Promise<{ status: number | null; stdout: string; stderr: string }> } {
  // The stack's own ports, for `stack status` (the pipeline commands read TEMPORAL_ADDRESS).
  const port = (address: string) => new URL(address.includes('://') ? address : `tcp://${address}`).port;
  const env = cliEnv(stack, { SIAMFACE_TEMPORAL_PORT: port(stack.info.temporal.address), SIAMFACE_MINIO_PORT: port(stack.info.minio.endpoint) });
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return { exited: new Promise((resolve) => child.on('exit', (status) => resolve({ status, stdout, stderr }))) };
}

async function terminated(workflowId: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await stack.client.workflow.getHandle(workflowId).terminate('test done');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200)); // `pipeline run` has not started it yet
    }
  }
}

test('pipeline start, resume and run: the workflow id or the results on stdout, started/watch/progress on stderr', { timeout: 180_000 }, async () => {
  const dataset = testInputDir('cli-streams');
  const queue = stack.queue('nobody-polls');
  const id = `cli-streams-${Date.now()}`;
  const started = await cli('pipeline', 'start', '--dataset', dataset, '--id', id, '--queue', queue).exited;
  assert.equal(started.status, 0, started.stderr);
  assert.equal(started.stdout, `${id}\n`, 'stdout: the workflow id only');
  assert.match(started.stderr, new RegExp(`^started ${id}$`, 'm'));
  assert.match(started.stderr, /^watch it: http/m);

  await terminated(id);
  const resumed = await cli('pipeline', 'resume', id, '--no-follow').exited;
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(resumed.stdout, `${id}\n`, 'stdout: the workflow id only');
  assert.match(resumed.stderr, new RegExp(`^resumed ${id} \\(new run `, 'm'));
  await terminated(id);

  // `run` follows until the workflow closes; terminated, it fails: an error, no data.
  const runId = `${id}-run`;
  const run = cli('pipeline', 'run', '--dataset', dataset, '--id', runId, '--queue', queue);
  await terminated(runId);
  const ran = await run.exited;
  assert.equal(ran.status, 2, ran.stderr);
  assert.equal(ran.stdout, '', 'an error is not data');
  assert.match(ran.stderr, new RegExp(`^started ${runId}$`, 'm'));
  assert.match(ran.stderr, /^watch it in the Temporal UI: http/m);
  assert.match(ran.stderr, /^siamface: /m);
});

test('stack status --json: one JSON document on stdout', async () => {
  const st = await cli('stack', 'status', '--json').exited;
  assert.equal(st.status, 0, st.stderr);
  const json = JSON.parse(st.stdout) as { health: { temporal: { healthy: boolean }; minio: { healthy: boolean } } }; // all of stdout
  assert.equal(json.health.temporal.healthy && json.health.minio.healthy, true, st.stdout);
});
