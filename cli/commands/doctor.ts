/**
 * `siamface doctor`: checks the whole setup in the order things depend on each other (S3, Temporal, workers, an
 * end-to-end workflow, the TensorFlow backend, a model to verify with) and says what to do about each failure.
 * Exit 0 when everything passes, 1 when a check failed (a negative answer, like `verify`'s), 2 on usage errors.
 */
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { s3Config, taskQueueFromEnv, temporalConfig } from '../../lib/config';
import { ObjectStore } from '../../lib/storage/object-store';
import { SiamfaceError } from '../../lib/errors';
import { ModelCache } from '../../lib/verify/model-cache';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../../lib/model/backend';
import { connectClient, rootCauseMessage } from '../temporal-client';
import { CLI_EXIT } from '../exit-codes';
import { outputOf, positiveInt, type CliOutput } from '../options';
import { pingWorkflow } from '../../workflows/ping';

export interface DoctorCheck {
  check: string;
  ok: boolean;
  /** What was found. */
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY (@temporalio/proto is not a direct dependency). */
const ACTIVITY_QUEUE_TYPE = 2;
const STACK_UP = './bin/siamface stack up (or set the S3_* / TEMPORAL_* variables of your deployment, README "Configuration (environment)")';

async function pollers(client: Client, queue: string): Promise<number> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: queue },
    taskQueueType: ACTIVITY_QUEUE_TYPE as never,
  });
  return res.pollers?.length ?? 0;
}

export async function runDoctor(opts: { timeoutSeconds: number }): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const s3 = s3Config();
  const store = new ObjectStore(s3);
  const where = `${s3.endpoint ?? 'AWS S3'} bucket ${s3.bucket}`;
  let storeOk = false;
  try {
    await store.ensureBucket();
    storeOk = true;
    checks.push({ check: 's3', ok: true, detail: where });
  } catch (err) {
    const e = err as Error;
    const credentials = err instanceof SiamfaceError && err.code === 'bad_credentials';
    checks.push({ check: 's3', ok: false, detail: `${where}: ${e.message}`, fix: credentials ? 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY' : `start MinIO: ${STACK_UP}` });
  }

  const temporal = temporalConfig();
  let conn: Awaited<ReturnType<typeof connectClient>> | undefined;
  try {
    conn = await connectClient();
    checks.push({ check: 'temporal', ok: true, detail: `${temporal.address} namespace ${temporal.namespace}` });
  } catch (err) {
    checks.push({ check: 'temporal', ok: false, detail: (err as Error).message, fix: `start Temporal: ${STACK_UP}` });
  }

  if (conn) {
    try {
      const queues = { cpu: taskQueueFromEnv('cpu'), gpu: taskQueueFromEnv('gpu') };
      for (const kind of ['cpu', 'gpu'] as const) {
        const n = await pollers(conn.client, queues[kind]).catch(() => 0);
        checks.push(
          n > 0
            ? { check: `${kind}-worker`, ok: true, detail: `${n} poller(s) on ${queues[kind]}` }
            : { check: `${kind}-worker`, ok: false, detail: `no worker polls ${queues[kind]}`, fix: `start one: ./bin/siamface workers start (or ./bin/siamface worker ${kind})` },
        );
      }
      if (storeOk && checks.find((c) => c.check === 'cpu-worker')?.ok) {
        try {
          const handle = await conn.client.workflow.start(pingWorkflow, {
            taskQueue: queues.cpu,
            workflowId: `doctor-${Date.now()}`,
            args: [{ message: 'siamface doctor' }],
            workflowExecutionTimeout: `${opts.timeoutSeconds}s`,
          });
          const res = (await handle.result()) as { echoed: string };
          checks.push({ check: 'workflow', ok: true, detail: `${handle.workflowId} round-tripped '${res.echoed}' through S3 on a CPU worker` });
        } catch (err) {
          checks.push({ check: 'workflow', ok: false, detail: rootCauseMessage(err), fix: "the CPU worker cannot reach S3 with its own settings: compare its log (./bin/siamface workers status) with this shell's S3_* variables" });
        }
      }
    } finally {
      await conn.close();
    }
  }

  try {
    await ensureBackend({ log: () => undefined });
    const backend = tf.getBackend();
    const native = backend === 'tensorflow';
    checks.push({
      check: 'backend',
      ok: true,
      detail: native ? 'tfjs-node (native TensorFlow)' : `${backend}: native TensorFlow is not set up, training is slower (bash infra/setup-tfjs-node.sh)`,
    });
  } catch (err) {
    checks.push({ check: 'backend', ok: false, detail: (err as Error).message, fix: 'run bash scripts/setup.sh' });
  }

  if (storeOk) {
    const models = new ModelCache(store);
    try {
      const name = await models.defaultName();
      checks.push({ check: 'model', ok: true, detail: `siamface verify uses ${name} v${await models.production(name)} by default` });
    } catch (err) {
      // Several models in production: nothing to train, only a choice to make.
      const several = ((err as SiamfaceError).details?.modelsInProduction as string[] | undefined)?.length;
      const fix = several ? 'choose the default: set SIAMFACE_MODEL_NAME=<name> (or pass --model <name> to verify and evaluate)' : 'train and promote one: npm run main -- --config configs/lfw-cpu-faceres.json';
      checks.push({ check: 'model', ok: false, detail: (err as Error).message, fix });
    } finally {
      await models.dispose();
    }
  }
  return checks;
}

export function registerDoctorCommand(program: Command, deps: CliOutput = {}): void {
  const { print } = outputOf(deps);
  program
    .command('doctor')
    .description('check the whole setup (S3, Temporal, workers, a workflow, the TensorFlow backend, a production model) and say what to fix')
    .option('--timeout <seconds>', 'give the end-to-end workflow this long', positiveInt, 60)
    .option('--json', 'print the checks as JSON')
    .action(async (opts: { timeout: number; json?: boolean }) => {
      const checks = await runDoctor({ timeoutSeconds: opts.timeout });
      if (opts.json) print(JSON.stringify({ ok: checks.every((c) => c.ok), checks }));
      else {
        for (const c of checks) print(`${c.ok ? 'ok  ' : 'FAIL'} ${c.check.padEnd(10)} ${c.detail}${c.fix ? `\n     ${''.padEnd(10)} -> ${c.fix}` : ''}`);
      }
      if (!checks.every((c) => c.ok)) process.exitCode = CLI_EXIT.negative;
    });
}
