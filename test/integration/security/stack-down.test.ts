/**
 * Attack suite, local stack: `stack down` (and `workers stop`) signal only a process they started. A pid file that
 * names someone else's process (a reused pid, an old bare-pid file, a process whose command line merely mentions
 * 'temporal' or 'minio') is not obeyed: that process keeps running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { privateStackOptions, runningPid, stackDown } from '../../../infra/local-stack';
import { processStartTime } from '../../../infra/owned-process';
import { testInputDir } from '../../support/test-policy';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('stack down leaves alone processes it did not start, even ones named like its services', async () => {
  const dir = testInputDir('stack-down');
  const o = await privateStackOptions(dir);
  // Strangers whose command lines contain 'temporal' and 'minio' (the old substring check accepted them).
  const strangers = ['temporal', 'minio'].map((name) => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', name], { stdio: 'ignore' }));
  try {
    const [t, m] = strangers.map((c) => c.pid!);
    fs.mkdirSync(path.join(dir, 'pids'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'pids', 'temporal.pid'), String(t)); // an old bare pid file
    fs.writeFileSync(path.join(dir, 'pids', 'minio.pid'), JSON.stringify({ pid: m, startTime: `${processStartTime(m)}0` })); // the pid, reused
    assert.equal(runningPid(o, 'temporal'), undefined);
    assert.equal(runningPid(o, 'minio'), undefined);
    assert.deepEqual(await stackDown(o), [], 'nothing of ours was running');
    assert.ok(alive(t) && alive(m), 'the strangers still run');
  } finally {
    for (const c of strangers) c.kill('SIGKILL');
  }
});
