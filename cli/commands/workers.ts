import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dataDir } from '../../lib/config';
import { ownedPid, writePidFile } from '../../infra/owned-process';

const KINDS = ['cpu', 'gpu'] as const;
type Kind = (typeof KINDS)[number];

const workerScript = (kind: Kind) => path.join(__dirname, '..', '..', 'workers', `${kind}-worker.js`);
const pidPath = (kind: Kind) => path.join(dataDir(), 'pids', `worker-${kind}.pid`);
const logPath = (kind: Kind) => path.join(dataDir(), 'logs', `worker-${kind}.log`);

/** The worker's pid while the very process `start` launched runs (never a stranger that reused its pid). */
function runningPid(kind: Kind): number | undefined {
  return ownedPid(pidPath(kind));
}

/** Starts a worker in the background (logs under the data dir); returns its pid. */
export function startWorkerProcess(kind: Kind): number {
  const existing = runningPid(kind);
  if (existing) return existing;
  fs.mkdirSync(path.dirname(pidPath(kind)), { recursive: true });
  fs.mkdirSync(path.dirname(logPath(kind)), { recursive: true });
  const log = fs.openSync(logPath(kind), 'a');
  const child = spawn(process.execPath, [workerScript(kind)], { detached: true, stdio: ['ignore', log, log], env: process.env });
  fs.closeSync(log);
  child.unref();
  writePidFile(pidPath(kind), child.pid!);
  return child.pid!;
}

export async function stopWorkerProcess(kind: Kind): Promise<boolean> {
  const pid = runningPid(kind);
  fs.rmSync(pidPath(kind), { force: true });
  if (!pid) return false;
  process.kill(pid, 'SIGTERM'); // graceful: running activities checkpoint first
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  process.kill(pid, 'SIGKILL');
  return true;
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .argument('<kind>', 'cpu (data, evaluation, promotion, verification, workflows) or gpu (training)')
    .description('run a worker in the foreground (Ctrl-C stops it gracefully)')
    .action(async (kind: string) => {
      if (!KINDS.includes(kind as Kind)) throw new Error(`unknown worker kind '${kind}': expected cpu or gpu`);
      const worker = (await import(workerScript(kind as Kind))) as { main(): Promise<void> };
      await worker.main();
    });

  const workers = program.command('workers').description('background workers for the local stack');
  workers
    .command('start')
    .description('start one cpu and one gpu worker in the background')
    .action(() => {
      for (const k of KINDS) console.log(`${k} worker pid ${startWorkerProcess(k)}  (log ${logPath(k)})`);
    });
  workers
    .command('stop')
    .description('stop the background workers gracefully')
    .action(async () => {
      for (const k of KINDS) console.log(`${k} worker: ${(await stopWorkerProcess(k)) ? 'stopped' : 'not running'}`);
    });
  workers
    .command('status')
    .action(() => {
      for (const k of KINDS) console.log(`${k} worker: ${runningPid(k) ? `running (pid ${runningPid(k)})` : 'not running'}`);
    });
}
