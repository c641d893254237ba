/** Stage 4 on the GPU queue: training, with heartbeats, cancellation and resume from checkpoints (lib/train). */
import { Context } from '@temporalio/activity';
import { runStage, type ActivityDeps } from './support';
import { trainModel, type TrainModelInput, type TrainModelResult } from '../lib/train/train-model';
import { computeTeacherEmbeddings, type ComputeTeacherInput, type ComputeTeacherResult } from '../lib/train/teacher-embeddings';

export function trainActivities(deps: ActivityDeps) {
  return {
    /**
     * Resumes from the run's newest complete checkpoint whatever the attempt number: the checkpoint
     * in S3, not the heartbeat details, is the source of truth. Give it a heartbeatTimeout longer
     * than one training step (the step itself blocks the event loop on CPU backends).
     */
    async trainModel(input: TrainModelInput): Promise<TrainModelResult> {
      const { attempt, workflowExecution, activityId } = Context.current().info;
      // The attempt number fences the run (lib/train/lease): a stalled older attempt cannot write over a newer one.
      const lease = { attempt, ...(workflowExecution ? { scope: `${workflowExecution.workflowId}/${workflowExecution.runId}/${activityId}` } : {}) };
      // Stop requests are scoped to this workflow run (see requestTrainingStop).
      const stopScope = workflowExecution?.runId;
      return runStage('trainModel', (ctx) => trainModel(deps.store, input, ctx, { lease, stopScope }));
    },

    /** A face-pretrained teacher's embeddings of the train images, stored beside the shards; resumes shard by shard. */
    async computeTeacherEmbeddings(input: ComputeTeacherInput): Promise<ComputeTeacherResult> {
      return runStage('computeTeacherEmbeddings', (ctx) => computeTeacherEmbeddings(deps.store, input, ctx));
    },
  };
}
