/** What the trainingPipeline reports through its `status` query and returns (small JSON only). */
export const PIPELINE_STAGES = ['plan', 'fetch', 'shard', 'pairs', 'teacher', 'train', 'evaluate', 'promote'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

export interface StageState {
  state: 'pending' | 'running' | 'done' | 'failed' | 'cancelled' | 'skipped';
  startedAt?: string;
  finishedAt?: string;
  /** Latest heartbeat details of the running activity (step, loss, images/s, bytes, ...), read from the server. */
  progress?: Record<string, unknown>;
  /** When the server last got a heartbeat from the stage's activity. */
  lastHeartbeatAt?: string;
  /** The activity's attempt number, where it is past the first. */
  attempt?: number;
  /** What happened to the previous attempt, e.g. "attempt 1 lost its worker at ...; retry pending". */
  retry?: string;
  summary?: Record<string, unknown>;
  error?: string;
}

export interface PipelineStatus {
  stage: PipelineStage | 'done';
  stages: Record<PipelineStage, StageState>;
  runId?: string;
  datasetId?: string;
  /** S3 keys of each stage's outputs. */
  outputs: Record<string, unknown>;
  metrics: Record<string, unknown>;
  stopRequested: boolean;
  stopReason?: string;
}

export interface PipelineResult {
  runId: string;
  datasetId: string;
  modelKey: string;
  evalReportKey: string;
  evalHtmlKey?: string;
  metrics: Record<string, unknown>;
  training: { steps: number; resumedFromStep: number | null; stoppedEarly: boolean; backend: string };
  promotion: { outcome: string; version?: number; productionVersion?: number | null; reason?: string; versionKey?: string };
}

/** Which pipeline stage each activity serves (for live progress from its pending activity). */
export const STAGE_OF_ACTIVITY: Record<string, PipelineStage> = {
  planPipeline: 'plan',
  fetchDataset: 'fetch',
  shardDataset: 'shard',
  generatePairs: 'pairs',
  computeTeacherEmbeddings: 'teacher',
  trainModel: 'train',
  evaluateRun: 'evaluate',
  promoteRun: 'promote',
};

/** A pending activity of the pipeline as the server describes it, its heartbeat details decoded (no Temporal types). */
export interface PendingStageActivity {
  activityType: string;
  /** 'scheduled' (waiting for a worker or for its retry), 'started' or 'cancel_requested'. */
  state: 'scheduled' | 'started' | 'cancel_requested' | 'unknown';
  attempt: number;
  heartbeatDetails?: Record<string, unknown>;
  lastHeartbeatAt?: string;
  lastWorkerIdentity?: string;
  /** When the last attempt ended (a failure or timeout), if one has. */
  lastAttemptEndedAt?: string;
  lastFailure?: { message: string; heartbeatTimeout: boolean };
}

/**
 * The workflow's own status (stage states, outputs, metrics) with each running stage's live progress and retry state
 * taken from its pending activity: heartbeats carry the progress, so no signal (a history event each) is needed.
 */
export function withLiveProgress(status: PipelineStatus, pending: PendingStageActivity[]): PipelineStatus {
  const stages = { ...status.stages };
  for (const a of pending) {
    const name = STAGE_OF_ACTIVITY[a.activityType];
    if (!name) continue;
    const st: StageState = { ...stages[name] };
    if (a.heartbeatDetails) st.progress = a.heartbeatDetails;
    if (a.lastHeartbeatAt) st.lastHeartbeatAt = a.lastHeartbeatAt;
    if (a.attempt > 1) {
      st.attempt = a.attempt;
      st.retry = retryLine(a);
    }
    stages[name] = st;
  }
  return { ...status, stages };
}

function retryLine(a: PendingStageActivity): string {
  const prev = a.attempt - 1;
  const waiting = a.state === 'scheduled';
  // The server records no end time for a heartbeat timeout; while the retry waits, the last heartbeat is the lost attempt's.
  const lost = a.lastFailure?.heartbeatTimeout ?? false;
  const at = a.lastAttemptEndedAt ? ` at ${a.lastAttemptEndedAt}` : lost && waiting && a.lastHeartbeatAt ? ` at ${a.lastHeartbeatAt} (its last heartbeat)` : '';
  const what = !a.lastFailure ? `attempt ${prev} ended${at}` : lost ? `attempt ${prev} lost its worker${waiting && a.lastWorkerIdentity ? ` (${a.lastWorkerIdentity})` : ''}${at}` : `attempt ${prev} failed${at}: ${a.lastFailure.message}`;
  const now = a.state === 'started' ? `attempt ${a.attempt} running` : a.state === 'cancel_requested' ? 'cancelling' : 'retry pending';
  return `${what}; ${now}`;
}
