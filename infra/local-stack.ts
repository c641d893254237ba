/**
 * The embedded local stack: a real Temporal dev server (SQLite file, Web UI) and a real MinIO server,
 * both on loopback, started detached with pid files so `down` stops exactly what `up` started.
 * Used by `siamface stack up|down|status`, the test suite and CI.
 */
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { LOCAL_DEFAULTS, type StackInfo } from '../lib/config';
import { ObjectStore } from '../lib/storage/object-store';
import { ownedPid, readPidFile, writePidFile } from './owned-process';

/** Search attributes the workflows set; registered at server start. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int' | 'Double' | 'Text'> = {
  SiamfaceStage: 'Keyword',
  SiamfaceModel: 'Keyword',
  SiamfaceRunId: 'Keyword',
  SiamfaceDataset: 'Keyword',
};

export interface StackOptions {
  dataDir: string;
  temporalPort: number;
  temporalUiPort: number;
  minioPort: number;
  minioConsolePort: number;
  namespace: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  healthTimeoutMs: number;
}

export type ServiceName = 'temporal' | 'minio';

export function stackOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<StackOptions> = {}): StackOptions {
  const num = (name: string, def: number) => {
    const v = env[name];
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}=${v} is not a valid port`);
    return n;
  };
  return {
    dataDir: path.resolve(env.SIAMFACE_DATA_DIR ?? '.data'),
    temporalPort: num('SIAMFACE_TEMPORAL_PORT', LOCAL_DEFAULTS.temporalPort),
    temporalUiPort: num('SIAMFACE_TEMPORAL_UI_PORT', LOCAL_DEFAULTS.temporalUiPort),
    minioPort: num('SIAMFACE_MINIO_PORT', LOCAL_DEFAULTS.minioPort),
    minioConsolePort: num('SIAMFACE_MINIO_CONSOLE_PORT', LOCAL_DEFAULTS.minioConsolePort),
    namespace: env.TEMPORAL_NAMESPACE ?? LOCAL_DEFAULTS.namespace,
    bucket: env.SIAMFACE_S3_BUCKET ?? LOCAL_DEFAULTS.bucket,
    accessKey: env.AWS_ACCESS_KEY_ID ?? env.MINIO_ROOT_USER ?? LOCAL_DEFAULTS.s3AccessKey,
    secretKey: env.AWS_SECRET_ACCESS_KEY ?? env.MINIO_ROOT_PASSWORD ?? LOCAL_DEFAULTS.s3SecretKey,
    healthTimeoutMs: Number(env.SIAMFACE_HEALTH_TIMEOUT_MS ?? 90_000),
    ...overrides,
  };
}

export class StackError extends Error {}

const projectRoot = () => path.resolve(__dirname, '..', '..');
const pidFile = (o: StackOptions, s: ServiceName) => path.join(o.dataDir, 'pids', `${s}.pid`);
const logFile = (o: StackOptions, s: ServiceName) => path.join(o.dataDir, 'logs', `${s}.log`);

export function stackInfo(o: StackOptions): StackInfo {
  return {
    temporal: {
      address: `127.0.0.1:${o.temporalPort}`,
      uiUrl: `http://127.0.0.1:${o.temporalUiPort}`,
      namespace: o.namespace,
      pid: readPid(o, 'temporal'),
      dbFile: path.join(o.dataDir, 'temporal', 'temporal.db'),
    },
    minio: {
      endpoint: `http://127.0.0.1:${o.minioPort}`,
      consoleUrl: `http://127.0.0.1:${o.minioConsolePort}`,
      bucket: o.bucket,
      pid: readPid(o, 'minio'),
      dataDir: path.join(o.dataDir, 'minio'),
    },
  };
}

/** Resolves (installing if needed) the server binaries via infra/install-tools.sh. */
export function resolveBinaries(): { temporal: string; minio: string } {
  let out: string;
  try {
    out = execFileSync('bash', [path.join(projectRoot(), 'infra', 'install-tools.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  } catch {
    throw new StackError('could not find or install the Temporal CLI / MinIO binaries (see the [tools] lines above)');
  }
  const get = (k: string) => out.match(new RegExp(`^${k}=(.+)$`, 'm'))?.[1];
  const temporal = get('TEMPORAL_BIN');
  const minio = get('MINIO_BIN');
  if (!temporal || !minio) throw new StackError(`infra/install-tools.sh printed no binary paths: ${out}`);
  return { temporal, minio };
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Options for a private stack on free ports (tests: two stacks on one machine never collide). */
export async function privateStackOptions(dataDir: string, overrides: Partial<StackOptions> = {}): Promise<StackOptions> {
  return stackOptionsFromEnv(
    {},
    {
      dataDir,
      temporalPort: await freePort(),
      temporalUiPort: await freePort(),
      minioPort: await freePort(),
      minioConsolePort: await freePort(),
      ...overrides,
    },
  );
}

function readPid(o: StackOptions, s: ServiceName): number | undefined {
  return readPidFile(pidFile(o, s))?.pid;
}

/** The service's pid while the very process `up` started runs (pid and start time match its pid file). */
export function runningPid(o: StackOptions, s: ServiceName): number | undefined {
  return ownedPid(pidFile(o, s));
}

function startDetached(o: StackOptions, s: ServiceName, bin: string, args: string[], env: NodeJS.ProcessEnv): number {
  fs.mkdirSync(path.dirname(pidFile(o, s)), { recursive: true });
  fs.mkdirSync(path.dirname(logFile(o, s)), { recursive: true });
  const log = fs.openSync(logFile(o, s), 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', log, log], env });
  fs.closeSync(log);
  if (!child.pid) throw new StackError(`could not start ${s} (${bin})`);
  child.unref();
  writePidFile(pidFile(o, s), child.pid);
  return child.pid;
}

export async function startService(o: StackOptions, s: ServiceName, bins = resolveBinaries()): Promise<void> {
  if (runningPid(o, s) !== undefined) return;
  if (s === 'temporal') {
    for (const port of [o.temporalPort, o.temporalUiPort]) {
      if (!(await isPortFree(port))) throw new StackError(`Temporal cannot start: port 127.0.0.1:${port} is already in use (set SIAMFACE_TEMPORAL_PORT / SIAMFACE_TEMPORAL_UI_PORT)`);
    }
    fs.mkdirSync(path.join(o.dataDir, 'temporal'), { recursive: true });
    const args = [
      'server', 'start-dev',
      '--ip', '127.0.0.1',
      '--port', String(o.temporalPort),
      '--ui-port', String(o.temporalUiPort),
      '--db-filename', path.join(o.dataDir, 'temporal', 'temporal.db'),
      '--namespace', o.namespace,
      '--log-level', 'warn',
      ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    ];
    startDetached(o, s, bins.temporal, args, process.env);
  } else {
    for (const port of [o.minioPort, o.minioConsolePort]) {
      if (!(await isPortFree(port))) throw new StackError(`MinIO cannot start: port 127.0.0.1:${port} is already in use (set SIAMFACE_MINIO_PORT / SIAMFACE_MINIO_CONSOLE_PORT)`);
    }
    fs.mkdirSync(path.join(o.dataDir, 'minio'), { recursive: true });
    const env = { ...process.env, MINIO_ROOT_USER: o.accessKey, MINIO_ROOT_PASSWORD: o.secretKey, MINIO_BROWSER: 'on', MINIO_UPDATE: 'off' };
    startDetached(o, s, bins.minio, ['server', path.join(o.dataDir, 'minio'), '--address', `127.0.0.1:${o.minioPort}`, '--console-address', `127.0.0.1:${o.minioConsolePort}`, '--quiet'], env);
  }
}

export async function stopService(o: StackOptions, s: ServiceName, signal: NodeJS.Signals = 'SIGTERM'): Promise<boolean> {
  const pid = runningPid(o, s);
  if (pid === undefined) {
    fs.rmSync(pidFile(o, s), { force: true });
    return false;
  }
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig); // the whole process group: start-dev runs the UI server too
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  kill(signal);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && alive(pid)) await sleep(100);
  if (alive(pid)) {
    kill('SIGKILL');
    while (alive(pid)) await sleep(50);
  }
  fs.rmSync(pidFile(o, s), { force: true });
  return true;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) counts as gone.
  try {
    return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export async function checkTemporal(o: StackOptions): Promise<string | undefined> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address: `127.0.0.1:${o.temporalPort}`, connectTimeout: 2000 });
    await conn.workflowService.describeNamespace({ namespace: o.namespace });
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

export async function checkMinio(o: StackOptions): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${o.minioPort}/minio/health/live`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? undefined : `health endpoint answered ${res.status}`;
  } catch (err) {
    return (err as Error).message;
  }
}

async function waitHealthy(o: StackOptions, s: ServiceName): Promise<void> {
  const check = s === 'temporal' ? checkTemporal : checkMinio;
  const deadline = Date.now() + o.healthTimeoutMs;
  let last: string | undefined = 'not checked';
  while (Date.now() < deadline) {
    last = await check(o);
    if (last === undefined) return;
    if (runningPid(o, s) === undefined) break;
    await sleep(250);
  }
  const tail = lastLines(logFile(o, s), 5);
  throw new StackError(
    `${s} did not become healthy within ${Math.round(o.healthTimeoutMs / 1000)}s on ${s === 'temporal' ? `127.0.0.1:${o.temporalPort}` : `127.0.0.1:${o.minioPort}`}: ${last ?? 'process exited'}` +
      (tail ? `\n--- last lines of ${logFile(o, s)} ---\n${tail}` : ''),
  );
}

export async function waitServiceHealthy(o: StackOptions, s: ServiceName): Promise<void> {
  await waitHealthy(o, s);
}

/** Starts both services (reusing ones already running from this data dir), waits for health, creates the bucket. */
export async function stackUp(o: StackOptions): Promise<StackInfo> {
  const bins = resolveBinaries();
  const started: ServiceName[] = [];
  try {
    for (const s of ['minio', 'temporal'] as const) {
      if (runningPid(o, s) === undefined) {
        await startService(o, s, bins);
        started.push(s);
      }
    }
    await waitHealthy(o, 'minio');
    await waitHealthy(o, 'temporal');
    const store = new ObjectStore({ endpoint: `http://127.0.0.1:${o.minioPort}`, region: 'us-east-1', accessKeyId: o.accessKey, secretAccessKey: o.secretKey, forcePathStyle: true, bucket: o.bucket });
    await store.ensureBucket();
  } catch (err) {
    // Leave nothing half-started.
    for (const s of started) await stopService(o, s);
    throw err;
  }
  const info = stackInfo(o);
  fs.writeFileSync(path.join(o.dataDir, 'stack.json'), JSON.stringify(info, null, 2));
  return info;
}

export async function stackDown(o: StackOptions): Promise<ServiceName[]> {
  const stopped: ServiceName[] = [];
  for (const s of ['temporal', 'minio'] as const) if (await stopService(o, s)) stopped.push(s);
  fs.rmSync(path.join(o.dataDir, 'stack.json'), { force: true });
  return stopped;
}

export async function stackStatus(o: StackOptions): Promise<Record<ServiceName, { pid?: number; healthy: boolean; problem?: string }>> {
  const t = await checkTemporal(o);
  const m = await checkMinio(o);
  return {
    temporal: { pid: runningPid(o, 'temporal'), healthy: t === undefined, problem: t },
    minio: { pid: runningPid(o, 'minio'), healthy: m === undefined, problem: m },
  };
}

function lastLines(file: string, n: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
