/**
 * Training alone on an existing dataset's shards and pairs: one trainModel activity on the GPU
 * queue. For operators who re-train without re-running the data stages, and for the resume tests.
 */
import { ActivityCancellationType, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { GpuActivities } from '../activities';
import type { TrainModelInput, TrainModelResult } from '../lib/train/train-model';
import { TASK_QUEUES } from '../lib/constants';
import { retryPolicy } from '../lib/pipeline/retry';

export interface TrainOnlyInput {
  train: TrainModelInput;
  /** Default siamface-gpu. */
  taskQueue?: string;
  /** How fast a dead worker's training is retried elsewhere; must exceed one training step. Default 300. */
  heartbeatTimeoutSeconds?: number;
  /** Default 20. */
  maximumAttempts?: number;
}

export async function trainOnlyWorkflow(input: TrainOnlyInput): Promise<TrainModelResult> {
  const maximumAttempts = input.maximumAttempts ?? 20;
  if (!Number.isInteger(maximumAttempts) || maximumAttempts < 1) throw ApplicationFailure.nonRetryable(`trainOnly: maximumAttempts must be an integer >= 1, got ${JSON.stringify(input.maximumAttempts)}`, 'bad_input');
  const { trainModel } = proxyActivities<GpuActivities>({
    taskQueue: input.taskQueue ?? TASK_QUEUES.gpu,
    startToCloseTimeout: '14d',
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds ?? 300}s`,
    // Let the activity save its checkpoint when the workflow is cancelled.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: retryPolicy({ maximumAttempts, initialInterval: '1s' }),
  });
  return trainModel(input.train);
}
