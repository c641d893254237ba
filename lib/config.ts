/**
 * Environment configuration (where Temporal and S3 are, which credentials), read in one place.
 * Secrets live only here and in the process environment: never in workflow inputs, histories or logs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TASK_QUEUES } from './constants';

export { TASK_QUEUES };

const TASK_QUEUE_ENV = { cpu: 'SIAMFACE_CPU_TASK_QUEUE', gpu: 'SIAMFACE_GPU_TASK_QUEUE' } as const;

/**
 * The task queue of a kind of worker: SIAMFACE_CPU_TASK_QUEUE / SIAMFACE_GPU_TASK_QUEUE when set (dedicated queues:
 * tests, side-by-side stacks), else siamface-cpu / siamface-gpu. Workers poll it and the CLI starts work on it.
 */
export function taskQueueFromEnv(kind: keyof typeof TASK_QUEUES, env: NodeJS.ProcessEnv = process.env): string {
  return env[TASK_QUEUE_ENV[kind]] || TASK_QUEUES[kind];
}

/** Documented local defaults for the embedded stack (loopback only). */
export const LOCAL_DEFAULTS = {
  temporalPort: 7233,
  temporalUiPort: 8233,
  minioPort: 9000,
  minioConsolePort: 9001,
  s3AccessKey: 'siamface',
  s3SecretKey: 'siamface-local-secret',
  bucket: 'siamface',
  namespace: 'default',
};

export interface S3Config {
  endpoint?: string; // unset -> AWS S3
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (STS): never logged, redacted everywhere. */
  sessionToken?: string;
  forcePathStyle: boolean;
  bucket: string;
}

export interface TemporalConfig {
  address: string;
  namespace: string;
  /** mTLS to the Temporal frontend (compose deployments); unset for the loopback dev server. */
  tls?: TemporalTlsConfig;
}

export interface TemporalTlsConfig {
  /** PEM file paths; the key stays in its file (only the path is configuration). */
  caFile?: string;
  certFile: string;
  keyFile: string;
  serverName?: string;
}

export interface StackInfo {
  temporal: { address: string; uiUrl: string; namespace: string; pid?: number; dbFile?: string };
  minio: { endpoint: string; consoleUrl: string; bucket: string; pid?: number; dataDir?: string };
}

export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.SIAMFACE_DATA_DIR ?? '.data');
}

/** The running local stack's addresses, if `siamface stack up` wrote them. */
export function readStackInfo(env: NodeJS.ProcessEnv = process.env): StackInfo | undefined {
  const file = path.join(dataDir(env), 'stack.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo;
  } catch {
    return undefined;
  }
}

export function temporalConfig(env: NodeJS.ProcessEnv = process.env): TemporalConfig {
  const stack = readStackInfo(env);
  return {
    address: env.TEMPORAL_ADDRESS ?? stack?.temporal.address ?? `127.0.0.1:${LOCAL_DEFAULTS.temporalPort}`,
    namespace: env.TEMPORAL_NAMESPACE ?? stack?.temporal.namespace ?? LOCAL_DEFAULTS.namespace,
    ...(temporalTls(env) ? { tls: temporalTls(env) } : {}),
  };
}

/** TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (+ TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME): client certificate for mTLS. */
function temporalTls(env: NodeJS.ProcessEnv): TemporalTlsConfig | undefined {
  const { TEMPORAL_TLS_CERT: certFile, TEMPORAL_TLS_KEY: keyFile, TEMPORAL_TLS_CA: caFile, TEMPORAL_TLS_SERVER_NAME: serverName } = env;
  if (!certFile && !keyFile && !caFile) return undefined;
  if (!certFile || !keyFile) throw new Error('Temporal mTLS needs both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY (PEM file paths)');
  return { certFile, keyFile, ...(caFile ? { caFile } : {}), ...(serverName ? { serverName } : {}) };
}

/** The Temporal SDK's TLS option for a TemporalConfig (client and worker connections). */
export function temporalTlsOptions(tls: TemporalTlsConfig | undefined) {
  if (!tls) return undefined;
  return {
    ...(tls.caFile ? { serverRootCACertificate: fs.readFileSync(tls.caFile) } : {}),
    clientCertPair: { crt: fs.readFileSync(tls.certFile), key: fs.readFileSync(tls.keyFile) },
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
  };
}

export function s3Config(env: NodeJS.ProcessEnv = process.env): S3Config {
  const stack = readStackInfo(env);
  const endpoint = env.SIAMFACE_S3_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3 ?? stack?.minio.endpoint ?? (env.AWS_REGION ? undefined : `http://127.0.0.1:${LOCAL_DEFAULTS.minioPort}`);
  return {
    endpoint,
    region: env.SIAMFACE_S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
    accessKeyId: env.AWS_ACCESS_KEY_ID ?? env.MINIO_ROOT_USER ?? LOCAL_DEFAULTS.s3AccessKey,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? env.MINIO_ROOT_PASSWORD ?? LOCAL_DEFAULTS.s3SecretKey,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    forcePathStyle: env.SIAMFACE_S3_FORCE_PATH_STYLE ? env.SIAMFACE_S3_FORCE_PATH_STYLE === 'true' : endpoint !== undefined,
    bucket: env.SIAMFACE_S3_BUCKET ?? stack?.minio.bucket ?? LOCAL_DEFAULTS.bucket,
  };
}

/** Values that must never be printed: lib/redact.ts owns the list (the workflow sandbox uses it too). */
export { secretValues } from './redact';
