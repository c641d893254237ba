/**
 * Integration-test harness: connects to the real local stack started for this test run
 * (scripts/test.sh starts one on free ports and exports SIAMFACE_DATA_DIR), or starts a private
 * one when a test file is run alone. Each test file gets its own bucket and task-queue suffix.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { readStackInfo, s3Config, type S3Config, type StackInfo } from '../../lib/config';
import { ObjectStore } from '../../lib/storage/object-store';
import { privateStackOptions, stackDown, stackUp, type StackOptions } from '../../infra/local-stack';
import { bundleWorkflows } from '../../workers/worker-options';
import { applyTestInputPolicy } from './test-policy';

// Before anything reads the policy: the test stack's workers may read exactly what the tests use.
applyTestInputPolicy();

export interface TestStack {
  info: StackInfo;
  /** S3 settings pointing at this file's own bucket. */
  s3: S3Config;
  store: ObjectStore;
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  /** A task queue name unique to this test file. */
  queue(name: string): string;
  workflowBundle(): Promise<NonNullable<WorkerOptions['workflowBundle']>>;
  close(): Promise<void>;
}

let privateStack: StackOptions | undefined;

async function ensureStack(): Promise<StackInfo> {
  const existing = readStackInfo();
  if (existing) return existing;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-stack-'));
  privateStack = await privateStackOptions(dir);
  process.env.SIAMFACE_DATA_DIR = dir;
  return stackUp(privateStack);
}

export async function useStack(fileTag: string): Promise<TestStack> {
  return connectStack(await ensureStack(), fileTag);
}

/**
 * A stack of this test file's own, on free ports, for tests that stop and restart Temporal or MinIO.
 * `options` drives infra/local-stack's startService/stopService.
 */
export async function usePrivateStack(fileTag: string): Promise<TestStack & { options: StackOptions }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `siamface-${fileTag}-`));
  const options = await privateStackOptions(dir);
  const info = await stackUp(options);
  const stack = await connectStack(info, fileTag, { endpoint: info.minio.endpoint, accessKeyId: options.accessKey, secretAccessKey: options.secretKey });
  return {
    ...stack,
    options,
    async close() {
      await stack.close();
      await stackDown(options);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function connectStack(info: StackInfo, fileTag: string, s3Overrides: Partial<S3Config> = {}): Promise<TestStack> {
  const suffix = `${fileTag}-${process.pid}-${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const bucket = `t-${suffix}`.slice(0, 63).replace(/-+$/, '');
  const s3 = { ...s3Config(), ...s3Overrides, forcePathStyle: true, bucket };
  const store = new ObjectStore(s3);
  await store.ensureBucket();
  const connection = await Connection.connect({ address: info.temporal.address });
  const nativeConnection = await NativeConnection.connect({ address: info.temporal.address });
  const client = new Client({ connection, namespace: info.temporal.namespace });
  let bundle: Promise<NonNullable<WorkerOptions['workflowBundle']>> | undefined;
  return {
    info,
    s3,
    store,
    client,
    connection,
    nativeConnection,
    queue: (name) => `${name}-${suffix}`,
    workflowBundle: () => (bundle ??= loadWorkflowBundle()),
    async close() {
      await connection.close().catch(() => undefined);
      await nativeConnection.close().catch(() => undefined);
      if (privateStack) await stackDown(privateStack);
    },
  };
}

/**
 * scripts/test.sh bundles the workflows once per run into this file and says so with
 * SIAMFACE_WORKFLOW_BUNDLE; a test file run on its own bundles the current code itself
 * (never a bundle left over from an earlier run).
 */
export const PREBUILT_BUNDLE = path.join(__dirname, '..', '..', 'workflow-bundle.js');

export async function loadWorkflowBundle(): Promise<NonNullable<WorkerOptions['workflowBundle']>> {
  const prebuilt = process.env.SIAMFACE_WORKFLOW_BUNDLE;
  if (prebuilt && fs.existsSync(prebuilt)) return { codePath: prebuilt };
  return bundleWorkflows();
}

/** The environment a `siamface` CLI child process needs to use this test stack (its Temporal, MinIO and bucket). */
export function cliEnv(stack: TestStack, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: stack.info.temporal.address,
    TEMPORAL_NAMESPACE: stack.info.temporal.namespace,
    SIAMFACE_S3_ENDPOINT: stack.s3.endpoint!,
    SIAMFACE_S3_BUCKET: stack.s3.bucket,
    AWS_ACCESS_KEY_ID: stack.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
    ...extra,
  };
}
