/**
 * Workers as real child processes (node dist/workers/<kind>-worker.js), so tests can SIGKILL them.
 * Each gets the stack's addresses and its own task queues through the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3Config, StackInfo } from '../../lib/config';

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves once the worker polls its task queue. */
  ready: Promise<void>;
  logFile: string;
  /** Rejects, with the end of the worker's log, if the worker exits without kill(): race a test's waits against it. */
  unexpectedExit: Promise<never>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startWorkerProcess(
  kind: 'cpu' | 'gpu',
  o: { info: StackInfo; s3: S3Config; queues: { cpu: string; gpu: string }; logDir: string; name: string; env?: NodeJS.ProcessEnv },
): WorkerProcess {
  const script = path.resolve(__dirname, '..', '..', 'workers', `${kind}-worker.js`);
  const logFile = path.join(o.logDir, `${o.name}.log`);
  fs.mkdirSync(o.logDir, { recursive: true });
  const child = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: o.info.temporal.address,
      TEMPORAL_NAMESPACE: o.info.temporal.namespace,
      SIAMFACE_S3_ENDPOINT: o.s3.endpoint,
      SIAMFACE_S3_BUCKET: o.s3.bucket,
      AWS_ACCESS_KEY_ID: o.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: o.s3.secretAccessKey,
      SIAMFACE_CPU_TASK_QUEUE: o.queues.cpu,
      SIAMFACE_GPU_TASK_QUEUE: o.queues.gpu,
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (b: Buffer) => {
      fs.appendFileSync(logFile, b);
      out += b.toString();
      if (out.includes('polling task queue')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => fs.appendFileSync(logFile, b));
    child.on('exit', (code, signal) => reject(new Error(`${o.name} exited (${code ?? signal}) before polling; see ${logFile}`)));
  });
  ready.catch(() => undefined);
  let killing = false;
  const unexpectedExit = new Promise<never>((_, reject) => {
    child.on('exit', (code, signal) => {
      if (killing) return;
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '(no log)';
      reject(new Error(`worker ${o.name} exited unexpectedly (${code ?? signal}); the end of ${logFile}:\n${tail}`));
    });
  });
  unexpectedExit.catch(() => undefined);
  return {
    child,
    ready,
    logFile,
    unexpectedExit,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      killing = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}
