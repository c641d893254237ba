/**
 * evaluateModel: `siamface evaluate` as a durable job. Checks the labelled pairs and pins the model
 * (prepareEvaluation), embeds and scores every pair as a batchVerify child workflow (chunked,
 * resumable, continue-as-new for large pair sets; its job id is the evaluation id, so a rerun resumes
 * it), then measures at the model's own validation-chosen threshold and writes the report (scoreEvaluation).
 */
import { ApplicationFailure, defineQuery, executeChild, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CpuActivities } from '../activities';
import type { EvaluationSummary } from '../lib/eval/evaluate-model';
import type { DetectMode, ModelRef } from '../lib/verify/types';
import { retryPolicy } from '../lib/pipeline/retry';
import { batchVerify } from './batch-verify';

export interface EvaluateModelInput {
  /** S3 key (in the workers' bucket) or s3:// URI of a CSV `a,b,label` / JSONL {a, b, label}. */
  input: string;
  model?: Partial<ModelRef>;
  detect?: DetectMode;
  /** Relative image locations resolve against this (worker-local folder, s3:// or http(s):// prefix). */
  baseUri?: string;
  chunkSize?: number;
  concurrency?: number;
  taskQueue?: string;
}

export interface EvaluateModelStatus {
  state: 'preparing' | 'embedding' | 'scoring' | 'done' | 'failed';
  evalId?: string;
  model?: { name: string; version: number };
  rows?: number;
  /** The batch job's workflow id: query it for live progress. */
  pairsWorkflowId?: string;
  summary?: EvaluationSummary;
}

export const evaluateStatusQuery = defineQuery<EvaluateModelStatus>('status');

export async function evaluateModel(input: EvaluateModelInput): Promise<EvaluationSummary> {
  if (!input || typeof input.input !== 'string' || !input.input) throw ApplicationFailure.nonRetryable('evaluateModel: input (S3 key or s3:// URI of labelled pairs) is required', 'bad_input');
  const status: EvaluateModelStatus = { state: 'preparing' };
  setHandler(evaluateStatusQuery, () => status);
  const queue = input.taskQueue ? { taskQueue: input.taskQueue } : {};
  const acts = proxyActivities<CpuActivities>({ ...queue, startToCloseTimeout: '2h', heartbeatTimeout: '2m', retry: retryPolicy({ maximumAttempts: 10 }) });
  try {
    upsertSearchAttributes({ SiamfaceStage: ['evaluate-prepare'] });
    const prepared = await acts.prepareEvaluation({ input: input.input, model: input.model, detect: input.detect });
    Object.assign(status, { state: 'embedding', evalId: prepared.evalId, model: prepared.model, rows: prepared.rows });
    upsertSearchAttributes({ SiamfaceStage: ['evaluate-embed'], SiamfaceModel: [prepared.model.name] });
    status.pairsWorkflowId = `${workflowInfo().workflowId}-pairs`;
    await executeChild(batchVerify, {
      workflowId: status.pairsWorkflowId,
      ...queue,
      args: [
        {
          jobId: prepared.evalId,
          input: input.input,
          model: prepared.model,
          detect: prepared.detect,
          ...(input.baseUri ? { baseUri: input.baseUri } : {}),
          ...(input.chunkSize ? { chunkSize: input.chunkSize } : {}),
          ...(input.concurrency ? { concurrency: input.concurrency } : {}),
          ...(input.taskQueue ? { taskQueue: input.taskQueue } : {}),
        },
      ],
    });
    status.state = 'scoring';
    upsertSearchAttributes({ SiamfaceStage: ['evaluate-score'] });
    const summary = await acts.scoreEvaluation({ evalId: prepared.evalId, model: prepared.model, input: input.input, detect: prepared.detect });
    status.state = 'done';
    status.summary = summary;
    upsertSearchAttributes({ SiamfaceStage: ['evaluate-done'] });
    return summary;
  } catch (err) {
    status.state = 'failed';
    throw err;
  }
}
