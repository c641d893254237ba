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

/** How often a running activity heartbeats its latest progress, whatever it is doing (validation, uploads, export). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;

/**
 * The heartbeat interval of this worker: SIAMFACE_HEARTBEAT_INTERVAL_MS or the default. The worker's heartbeat
 * throttle uses it too, so this is also how fresh the progress `pipeline status` reads from the server is.
 */
export function heartbeatIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SIAMFACE_HEARTBEAT_INTERVAL_MS;
  if (raw === undefined || raw === '') return DEFAULT_HEARTBEAT_INTERVAL_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1 || ms > 60_000) throw new Error(`SIAMFACE_HEARTBEAT_INTERVAL_MS must be an integer from 1 to 60000 (milliseconds), got '${raw}'`);
  return ms;
}

/** Progress reports heartbeat at once when the last heartbeat is this old (observers see new numbers soon). */
const REPORT_HEARTBEAT_MIN_MS = 1000;

/**
 * A RunContext that heartbeats from a timer as well as on report(): a stage that stops reporting while it validates,
 * saves a checkpoint or uploads still heartbeats, so heartbeat timeouts can be short. stop() ends the timer.
 */
export function activityRunContext(intervalMs: number = heartbeatIntervalMs()): RunContext & { flush(): void; stop(): void } {
  const ctx = Context.current();
  const details = ctx.info.heartbeatDetails as Progress | undefined;
  const resumeFrom = details && typeof details === 'object' ? details : undefined;
  // Until this attempt reports, beat the previous attempt's details: an empty heartbeat would erase them.
  let latest: Progress | undefined = resumeFrom;
  let lastBeat = -Infinity;
  let sent = true;
  const beat = () => {
    lastBeat = Date.now();
    ctx.heartbeat(latest);
    sent = true;
  };
  if (resumeFrom) beat();
  const timer = setInterval(beat, intervalMs);
  return {
    report(progress: Progress) {
      latest = progress;
      sent = false;
      if (Date.now() - lastBeat >= Math.min(REPORT_HEARTBEAT_MIN_MS, intervalMs)) beat();
    },
    signal: ctx.cancellationSignal,
    resumeFrom,
    log(message, fields) {
      ctx.log.info(redactSecrets(message), fields ? redactDeep(fields) : undefined);
    },
    /** Sends the last progress at once so observers see the final numbers. */
    flush() {
      if (!sent) beat();
    },
    stop() {
      clearInterval(timer);
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
  } finally {
    ctx.stop();
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
