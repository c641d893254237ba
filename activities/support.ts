/**
 * Glue between Temporal activities and Temporal-free domain code (lib/).
 *
 * Pattern for every activity file:
 *   export function fooActivities(deps: ActivityDeps) {
 *     return { async foo(input: FooInput): Promise<FooResult> { return runStage('foo', (ctx) => foo(deps.store, input, ctx)); } };
 *   }
 * runStage turns heartbeats, cancellation and error classification into the RunContext lib code uses.
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { SiamfaceError } from '../lib/errors';
import type { RunContext, Progress } from '../lib/progress';
import type { ObjectStore } from '../lib/storage/object-store';
import { redactDeep, redactSecrets } from '../lib/redact';
import { inputPolicyFromEnv, type InputPolicy } from '../lib/security/input-policy';
import { STAGE_OF_ACTIVITY } from '../lib/pipeline/status';
import type { Client } from '@temporalio/client';

export interface ActivityDeps {
  store: ObjectStore;
  /**
   * What workflow inputs may make this worker touch: the operator's, never from input. Workers load it at start (a
   * bad policy stops them there); unset, lib code reads the same policy from the environment.
   */
  policy?: InputPolicy;
}

/** Deps for a worker process: the store and the policy of this environment. */
export function activityDeps(store: ObjectStore, policy: InputPolicy = inputPolicyFromEnv()): ActivityDeps {
  return { store, policy };
}

/** Minimum interval between heartbeats we send ourselves (the SDK throttles further). */
const HEARTBEAT_INTERVAL_MS = 1000;
/** Live progress also goes to the pipeline workflow as a signal, rarely: each one is a history event. */
const PROGRESS_SIGNAL_INTERVAL_MS = 15_000;

let progressClient: Client | undefined;

/** Workers call this so pipeline activities can push their progress into the workflow's status query. */
export function configureProgressSignals(client: Client | undefined): void {
  progressClient = client;
}

function signalProgress(progress: Progress): void {
  const ctx = Context.current();
  const stage = STAGE_OF_ACTIVITY[ctx.info.activityType];
  const exec = ctx.info.workflowExecution;
  if (!progressClient || !stage || !exec || ctx.info.workflowType !== 'trainingPipeline') return;
  const { workflowId, runId } = exec;
  progressClient.workflow
    .getHandle(workflowId, runId)
    .signal('stageProgress', { stage, progress })
    .catch((err: Error) => ctx.log.debug('progress signal not delivered', { error: err.message }));
}

export function activityRunContext(): RunContext & { flush(): void } {
  const ctx = Context.current();
  let last = 0;
  let lastSignal = 0;
  let pending: Progress | undefined;
  const details = ctx.info.heartbeatDetails as Progress | undefined;
  return {
    report(progress: Progress) {
      pending = progress;
      const now = Date.now();
      if (now - last >= HEARTBEAT_INTERVAL_MS) {
        last = now;
        ctx.heartbeat(progress);
        pending = undefined;
      }
      if (now - lastSignal >= PROGRESS_SIGNAL_INTERVAL_MS) {
        lastSignal = now;
        signalProgress(progress);
      }
    },
    signal: ctx.cancellationSignal,
    resumeFrom: details && typeof details === 'object' ? details : undefined,
    log(message, fields) {
      ctx.log.info(redactSecrets(message), fields ? redactDeep(fields) : undefined);
    },
    /** Sends the last throttled progress so observers see the final numbers. */
    flush() {
      if (pending) ctx.heartbeat(pending);
      pending = undefined;
    },
  };
}

/** Runs a stage with a RunContext and maps domain errors to Temporal failures. */
export async function runStage<T>(stage: string, fn: (ctx: RunContext) => Promise<T>): Promise<T> {
  const ctx = activityRunContext();
  try {
    const result = await fn(ctx);
    ctx.flush();
    return result;
  } catch (err) {
    throw toTemporalFailure(stage, err);
  }
}

export function toTemporalFailure(stage: string, err: unknown): unknown {
  if (err instanceof CancelledFailure || err instanceof ApplicationFailure) return err;
  const cancelled = Context.current().cancellationSignal.aborted;
  if (cancelled) return err; // the SDK reports cancellation itself
  if (err instanceof SiamfaceError) {
    const message = redactSecrets(`${stage}: ${err.message}`);
    return ApplicationFailure.create({
      message,
      type: err.code,
      nonRetryable: err.permanent,
      details: err.details ? [redactDeep(JSON.parse(JSON.stringify(err.details)) as Record<string, unknown>)] : undefined,
    });
  }
  const e = err as Error;
  // Unknown errors are retried (bounded by the activity's retry policy); the message is kept.
  return ApplicationFailure.create({ message: redactSecrets(`${stage}: ${e?.message ?? String(err)}`), type: e?.name ?? 'Error', nonRetryable: false });
}
