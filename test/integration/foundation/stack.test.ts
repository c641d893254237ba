/**
 * The local stack's lifecycle on free ports: up -> healthy -> down leaves no process of its own;
 * a port in use gives a one-line error naming it and leaves nothing half-started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { privateStackOptions, runningPid, stackDown, stackStatus, stackUp } from '../../../infra/local-stack';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('stack up starts healthy Temporal and MinIO, status reports them, down stops exactly them', { timeout: 180_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-stack-test-'));
  const o = await privateStackOptions(dir);
  try {
    const info = await stackUp(o);
    assert.equal(info.temporal.address, `127.0.0.1:${o.temporalPort}`);
    const st = await stackStatus(o);
    assert.equal(st.temporal.healthy, true, st.temporal.problem);
    assert.equal(st.minio.healthy, true, st.minio.problem);
    const ui = await fetch(info.temporal.uiUrl);
    assert.equal(ui.status, 200, 'the Temporal Web UI answers');
    const pids = [runningPid(o, 'temporal')!, runningPid(o, 'minio')!];
    assert.ok(pids.every((p) => p > 0 && alive(p)));
    assert.ok(fs.existsSync(path.join(dir, 'temporal', 'temporal.db')), 'Temporal keeps its state in the SQLite file');

    // A second `up` reuses what runs instead of starting duplicates.
    await stackUp(o);
    assert.deepEqual([runningPid(o, 'temporal'), runningPid(o, 'minio')], pids);

    assert.deepEqual((await stackDown(o)).sort(), ['minio', 'temporal']);
    assert.ok(pids.every((p) => !alive(p)), 'no process of the stack is left');
    const after = await stackStatus(o);
    assert.equal(after.temporal.healthy || after.minio.healthy, false);
  } finally {
    await stackDown(o);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a port already in use: a clear error naming the port, and nothing left running', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-stack-test-'));
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  const o = await privateStackOptions(dir, { temporalUiPort: port });
  try {
    await assert.rejects(stackUp(o), new RegExp(`port 127\\.0\\.0\\.1:${port} is already in use`));
    assert.equal(runningPid(o, 'minio'), undefined, 'MinIO, started first, was stopped again');
    assert.equal(runningPid(o, 'temporal'), undefined);
  } finally {
    blocker.close();
    await stackDown(o);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
