/**
 * A pipeline's status as `siamface pipeline status` shows it: the workflow's status query (stage states, outputs,
 * metrics) plus live progress and retry state from its pending activities, read with describe(). The SDK gives
 * pending activities only raw (payloads encoded), so they are decoded here with the client's data converter.
 */
import { decodePendingActivityState, type WorkflowHandle } from '@temporalio/client';
import { decodeTimeoutType, type LoadedDataConverter } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import { withLiveProgress, type PendingStageActivity, type PipelineStatus } from '../lib/pipeline/status';
import { pipelineStatusQuery } from '../workflows/training-pipeline';

type RawPendingActivity = NonNullable<Awaited<ReturnType<WorkflowHandle['describe']>>['raw']['pendingActivities']>[number];

const STATES: Record<string, PendingStageActivity['state']> = { SCHEDULED: 'scheduled', STARTED: 'started', CANCEL_REQUESTED: 'cancel_requested' };

const iso = (ts: RawPendingActivity['lastHeartbeatTime']) => optionalTsToDate(ts)?.toISOString();

/** One raw pending activity in plain JSON, its heartbeat details decoded (undecodable details are left out, not fatal). */
export async function decodePendingActivity(converter: LoadedDataConverter, a: RawPendingActivity): Promise<PendingStageActivity> {
  let heartbeatDetails: Record<string, unknown> | undefined;
  if (a.heartbeatDetails?.payloads?.length) {
    const d = await decodeFromPayloadsAtIndex<unknown>(converter, 0, a.heartbeatDetails.payloads).catch(() => undefined);
    if (d && typeof d === 'object') heartbeatDetails = d as Record<string, unknown>;
  }
  const f = a.lastFailure;
  return {
    activityType: a.activityType?.name ?? '',
    state: STATES[decodePendingActivityState(a.state) ?? ''] ?? 'unknown',
    attempt: a.attempt ?? 1,
    heartbeatDetails,
    lastHeartbeatAt: iso(a.lastHeartbeatTime),
    lastWorkerIdentity: a.lastWorkerIdentity || undefined,
    lastAttemptEndedAt: iso(a.lastAttemptCompleteTime),
    lastFailure: f
      ? { message: f.message ?? '', heartbeatTimeout: decodeTimeoutType(f.timeoutFailureInfo?.timeoutType) === 'HEARTBEAT' }
      : undefined,
  };
}

/** The pending activities of a workflow run, decoded with the handle's client's data converter. */
export async function pendingActivities(handle: WorkflowHandle): Promise<PendingStageActivity[]> {
  const desc = await handle.describe();
  const converter = handle.client.options.loadedDataConverter;
  return Promise.all((desc.raw.pendingActivities ?? []).map((a) => decodePendingActivity(converter, a)));
}

/** The status query with each running stage's live progress and retry state from its heartbeats. */
export async function livePipelineStatus(handle: WorkflowHandle): Promise<PipelineStatus> {
  const [status, pending] = await Promise.all([handle.query(pipelineStatusQuery), pendingActivities(handle)]);
  return withLiveProgress(status, pending);
}
