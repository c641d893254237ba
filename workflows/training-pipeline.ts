/**
 * trainingPipeline: fetch -> shard -> pairs (CPU queue) -> train (GPU queue) -> evaluate -> promote.
 * Deterministic orchestration only: it passes S3 keys and small JSON; every stage is an idempotent
 * activity whose outputs derive from the config, so re-running the same config continues where a
 * failed or interrupted run stopped (finished stages return at once; training resumes from its checkpoint).
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { CpuActivities, GpuActivities } from '../activities';
import { configSummary, PipelineConfigError, resolvePipelineConfig, teacherOf, trainingInputOf, type PipelineConfig, type PipelineConfigInput } from '../lib/pipeline/config';
import { PIPELINE_STAGES, type PipelineResult, type PipelineStage, type PipelineStatus } from '../lib/pipeline/status';
import { retryPolicy } from '../lib/pipeline/retry';

export const pipelineStatusQuery = defineQuery<PipelineStatus>('status');
/** Stop training early and continue to evaluation with the best checkpoint. */
export const stopTrainingSignal = defineSignal<[{ reason?: string }?]>('stopTraining');

export async function trainingPipeline(input: PipelineConfigInput): Promise<PipelineResult> {
  let cfg: PipelineConfig;
  try {
    cfg = resolvePipelineConfig(input);
  } catch (err) {
    // A bad config is the user's to fix: fail the workflow at once, never retry.
    if (err instanceof PipelineConfigError) throw ApplicationFailure.nonRetryable(err.message, 'bad_input');
    throw err;
  }

  const status: PipelineStatus = {
    stage: 'plan',
    stages: Object.fromEntries(PIPELINE_STAGES.map((s) => [s, { state: 'pending' }])) as PipelineStatus['stages'],
    outputs: {},
    metrics: {},
    stopRequested: false,
  };
  setHandler(pipelineStatusQuery, () => status);
  setHandler(stopTrainingSignal, (arg) => {
    status.stopRequested = true;
    status.stopReason = arg?.reason ?? 'requested';
  });
  upsertMemo({ config: configSummary(cfg) });
  upsertSearchAttributes({ SiamfaceStage: ['plan'], SiamfaceModel: [cfg.promotion.modelName] });

  const hb = cfg.heartbeatTimeoutSeconds;
  const quick = proxyActivities<CpuActivities>({ taskQueue: cfg.taskQueues.cpu, startToCloseTimeout: '2m', retry: retryPolicy({ maximumAttempts: 5 }) });
  const data = proxyActivities<CpuActivities>({ taskQueue: cfg.taskQueues.cpu, startToCloseTimeout: '24h', heartbeatTimeout: `${hb.data}s`, retry: retryPolicy({ maximumAttempts: 20 }) });
  const evaluation = proxyActivities<CpuActivities>({ taskQueue: cfg.taskQueues.cpu, startToCloseTimeout: '12h', heartbeatTimeout: `${hb.evaluate}s`, retry: retryPolicy({ maximumAttempts: 10 }) });
  // promoteRun copies the model, exports ONNX and checks parity (minutes for a DenseNet), heartbeating between
  // steps; the ONNX conversion itself is synchronous, so its heartbeat timeout is evaluation's (which also loads models).
  const promoting = proxyActivities<CpuActivities>({ taskQueue: cfg.taskQueues.cpu, startToCloseTimeout: '1h', heartbeatTimeout: `${hb.evaluate}s`, retry: retryPolicy({ maximumAttempts: 10 }) });
  const training = proxyActivities<GpuActivities>({
    taskQueue: cfg.taskQueues.gpu,
    startToCloseTimeout: '14d',
    heartbeatTimeout: `${hb.train}s`,
    // Wait for the activity to save its checkpoint when the workflow is cancelled.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: retryPolicy({ maximumAttempts: 50 }),
  });

  async function stage<T>(name: PipelineStage, run: () => Promise<T>, summarize: (r: T) => Record<string, unknown> = () => ({})): Promise<T> {
    status.stage = name;
    const st = status.stages[name];
    st.state = 'running';
    st.startedAt = new Date().toISOString();
    upsertSearchAttributes({ SiamfaceStage: [name] });
    try {
      const result = await run();
      st.state = 'done';
      st.finishedAt = new Date().toISOString();
      st.summary = summarize(result);
      return result;
    } catch (err) {
      st.state = isCancellation(err) ? 'cancelled' : 'failed';
      st.finishedAt = new Date().toISOString();
      st.error = (err as Error).message;
      upsertSearchAttributes({ SiamfaceStage: [`${name}-${st.state}`] });
      throw err;
    }
  }

  const plan = await stage('plan', () => quick.planPipeline(cfg), (p) => ({ datasetId: p.datasetId, runId: p.runId }));
  const { datasetId, runId } = plan;
  status.runId = runId;
  status.datasetId = datasetId;
  upsertSearchAttributes({ SiamfaceRunId: [runId], SiamfaceDataset: [datasetId] });

  const fetched = await stage('fetch', () => data.fetchDataset({ source: cfg.dataset.source, datasetId }), (r) => ({ files: r.files, images: r.images, bytes: r.bytes, skipped: r.skipped, uploaded: r.uploaded }));
  status.outputs.raw = fetched.rawPrefix;

  const sharded = await stage(
    'shard',
    () =>
      data.shardDataset({
        datasetId,
        imageSize: cfg.preprocessing.imageSize,
        crop: cfg.preprocessing.crop,
        shardSize: cfg.preprocessing.shardSize,
        maxBadFraction: cfg.preprocessing.maxBadFraction,
        splitSeed: cfg.split.seed,
        fractions: cfg.split.fractions,
      }),
    (r) => ({ shards: r.shards, images: r.images, skippedImages: r.skippedImages, shardsWritten: r.shardsWritten }),
  );
  status.outputs.manifest = sharded.manifestKey;

  const pairs = await stage('pairs', () => data.generatePairs({ datasetId, manifestKey: sharded.manifestKey, seed: cfg.pairs.seed, pairsPerSplit: cfg.pairs.perSplit }), (r) => ({ counts: r.counts }));
  status.outputs.pairs = pairs.pairsKeys;

  // Distillation: the teacher's embeddings of the train images, once per dataset and teacher (reused by later runs).
  const teacher = teacherOf(cfg);
  if (teacher) {
    const computed = await stage(
      'teacher',
      () => training.computeTeacherEmbeddings({ manifestKey: sharded.manifestKey, teacher: teacher as { backbone: 'faceres34' } }),
      (r) => ({ teacherId: r.teacherId, images: r.images, shardsComputed: r.shardsComputed }),
    );
    status.outputs.teacher = computed.manifestKey;
  } else {
    status.stages.teacher.state = 'skipped';
  }

  // The stop request is forwarded to the training loop (it polls S3) once training runs.
  const stopForwarder = CancellationScope.cancellable(async () => {
    await condition(() => status.stopRequested && status.stage === 'train');
    await quick.requestTrainingStop({ runId, reason: status.stopReason ?? 'requested' });
  });
  stopForwarder.catch((err) => {
    if (!isCancellation(err)) log.warn('could not forward the stop request', { error: (err as Error).message });
  });

  const trained = await stage(
    'train',
    () =>
      training.trainModel({
        runId,
        datasetId,
        manifestKey: sharded.manifestKey,
        pairsKeys: pairs.pairsKeys,
        config: trainingInputOf(cfg),
      }),
    (r) => ({ steps: r.steps, epochs: r.epochs, backend: r.backend, resumedFromStep: r.resumedFromStep, stoppedEarly: r.stoppedEarly, bestValAuc: r.bestValAuc }),
  );
  status.outputs.model = trained.modelKey;
  status.metrics.training = trained.finalMetrics;

  const evaluated = await stage(
    'evaluate',
    () => evaluation.evaluateRun({ runId, datasetId, manifestKey: sharded.manifestKey, modelKey: trained.modelKey, pairsKeys: pairs.pairsKeys, targetFar: cfg.evaluation.targetFar, batchSize: cfg.evaluation.batchSize }),
    (r) => ({ reportKey: r.reportKey, headline: r.headline }),
  );
  status.outputs.evalReport = evaluated.reportKey;
  status.outputs.evalHtml = evaluated.htmlKey;
  status.metrics.test = evaluated.headline;

  let promotion: PipelineResult['promotion'] = { outcome: 'skipped', reason: 'promotion disabled in the config' };
  if (cfg.promotion.enabled) {
    const promoted = await stage(
      'promote',
      () => promoting.promoteRun({ runId, modelName: cfg.promotion.modelName, rule: { metric: cfg.promotion.metric, margin: cfg.promotion.margin }, trainingConfig: cfg as unknown as Record<string, unknown> }),
      (r) => ({ outcome: r.outcome, version: r.version, productionVersion: r.productionVersion, reason: r.reason }),
    );
    promotion = promoted;
    status.outputs.modelVersion = promoted.versionKey;
  } else {
    status.stages.promote.state = 'skipped';
  }

  status.stage = 'done';
  upsertSearchAttributes({ SiamfaceStage: ['done'] });
  return {
    runId,
    datasetId,
    modelKey: trained.modelKey,
    evalReportKey: evaluated.reportKey,
    evalHtmlKey: evaluated.htmlKey,
    metrics: { ...evaluated.headline },
    training: { steps: trained.steps, resumedFromStep: trained.resumedFromStep ?? null, stoppedEarly: trained.stoppedEarly ?? false, backend: trained.backend },
    promotion,
  };
}
