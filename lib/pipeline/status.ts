/** What the trainingPipeline reports through its `status` query and returns (small JSON only). */
export const PIPELINE_STAGES = ['plan', 'fetch', 'shard', 'pairs', 'teacher', 'train', 'evaluate', 'promote'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

export interface StageState {
  state: 'pending' | 'running' | 'done' | 'failed' | 'cancelled' | 'skipped';
  startedAt?: string;
  finishedAt?: string;
  /** Latest heartbeat details of the running activity (step, loss, images/s, bytes, ...). */
  progress?: Record<string, unknown>;
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

export interface StageProgress {
  stage: string;
  progress: Record<string, unknown>;
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

/** Which pipeline stage each activity serves (for live progress in the status query). */
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
