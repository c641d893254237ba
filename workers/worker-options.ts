/**
 * The one place that builds Temporal workers: connection, namespace, concurrency limits,
 * workflow bundle and graceful shutdown. Both worker entry points and the tests use it.
 */
import * as path from 'node:path';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { heartbeatIntervalMs } from '../activities/support';
import { temporalConfig, temporalTlsOptions, type TemporalConfig } from '../lib/config';
import { RedactingPayloadCodec } from './redacting-codec';

export const WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows', 'index.js');
/** Redacts every failure before it reaches a history; the workflow bundle carries it too. */
export const FAILURE_CONVERTER_PATH = path.join(__dirname, 'failure-converter.js');

export interface SiamfaceWorkerOptions {
  taskQueue: string;
  activities: object;
  /** Serve workflows too (the CPU worker does). */
  withWorkflows?: boolean;
  /** A prebuilt bundle (tests bundle once per run); otherwise the worker bundles at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  temporal?: TemporalConfig;
  connection?: NativeConnection;
  maxConcurrentActivities?: number;
  identity?: string;
  /** How long running activities get to save a checkpoint after SIGINT/SIGTERM. */
  shutdownGraceTime?: string;
}

export async function createSiamfaceWorker(o: SiamfaceWorkerOptions): Promise<{ worker: Worker; connection: NativeConnection; ownsConnection: boolean }> {
  const temporal = o.temporal ?? temporalConfig();
  const ownsConnection = !o.connection;
  const connection = o.connection ?? (await NativeConnection.connect({ address: temporal.address, tls: temporalTlsOptions(temporal.tls) }));
  try {
    const worker = await Worker.create({
      connection,
      namespace: temporal.namespace,
      taskQueue: o.taskQueue,
      activities: o.activities,
      dataConverter: { failureConverterPath: FAILURE_CONVERTER_PATH, payloadCodecs: [new RedactingPayloadCodec()] },
      ...(o.withWorkflows ? (o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }) : {}),
      maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 2,
      identity: o.identity ?? `${o.taskQueue}@${process.pid}`,
      shutdownGraceTime: o.shutdownGraceTime ?? '30s',
      // Heartbeats reach the server this often (not only every 0.8 x heartbeat timeout): `pipeline status` reads progress there.
      maxHeartbeatThrottleInterval: heartbeatIntervalMs(),
    });
    return { worker, connection, ownsConnection };
  } catch (err) {
    if (ownsConnection) await connection.close().catch(() => undefined);
    throw err;
  }
}

export async function bundleWorkflows() {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, logger: { info: () => undefined, warn: () => undefined, error: console.error, debug: () => undefined, trace: () => undefined, log: () => undefined } as never });
}

/**
 * Runs until SIGINT/SIGTERM (the SDK's Runtime installs those handlers and starts a graceful
 * shutdown: no new tasks, running activities are cancelled and get shutdownGraceTime to checkpoint).
 */
export async function runWorker(name: string, build: () => Promise<{ worker: Worker; connection: NativeConnection; ownsConnection: boolean }>): Promise<void> {
  let built;
  try {
    built = await build();
  } catch (err) {
    console.error(`${name}: cannot start: ${(err as Error).message.split('\n')[0]}`);
    process.exit(1);
  }
  console.log(`${name}: polling task queue '${built.worker.options.taskQueue}' in namespace '${built.worker.options.namespace}'`);
  try {
    await built.worker.run();
    console.log(`${name}: stopped`);
  } finally {
    if (built.ownsConnection) await built.connection.close().catch(() => undefined);
  }
  process.exit(0);
}
