/**
 * Pipeline bookkeeping activities: planning (full validation + the ids every stage's outputs
 * derive from) and the early-stop request the training loop polls for.
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { datasetIdFor, stableJson, validateSource } from '../lib/data/sources';
import { badInput } from '../lib/errors';
import { resolvePipelineConfig, trainingInputOf, PipelineConfigError, type PipelineConfig } from '../lib/pipeline/config';
import { stopRequestKey } from '../lib/train/run-layout';
import { resolveTrainConfig, type TrainConfigInput } from '../lib/train/config';
import { checkSourceAllowed } from '../lib/data/fetch-dataset';
import { checkLocation } from '../lib/security/check-location';
import { inputPolicyFromEnv } from '../lib/security/input-policy';
import { runStage, type ActivityDeps } from './support';

export interface PipelinePlan {
  config: PipelineConfig;
  datasetId: string;
  runId: string;
}

/** The run id is derived from everything that shapes the trained model, so a rerun with the same config resumes it. */
export function runIdFor(cfg: PipelineConfig, datasetId: string): string {
  if (cfg.runId) return cfg.runId;
  const shaping = { datasetId, preprocessing: cfg.preprocessing, split: cfg.split, pairs: cfg.pairs, training: cfg.training };
  return `${cfg.promotion.modelName}-${createHash('sha256').update(stableJson(shaping)).digest('hex').slice(0, 12)}`;
}

export function pipelineActivities(deps: ActivityDeps) {
  return {
    async planPipeline(input: unknown): Promise<PipelinePlan> {
      return runStage('planPipeline', async () => {
        let config: PipelineConfig;
        try {
          config = resolvePipelineConfig(input);
        } catch (err) {
          if (err instanceof PipelineConfigError) throw badInput(err.message);
          throw err;
        }
        validateSource(config.dataset.source);
        // Validate the training section now, not hours later when training starts.
        const train = resolveTrainConfig(trainingInputOf(config) as TrainConfigInput);
        // Every location the input names, against the worker's policy, before any stage runs.
        const policy = deps.policy ?? inputPolicyFromEnv();
        // Host names are resolved (and checked again) when fetched, not here: planning needs no network.
        await checkSourceAllowed(config.dataset.source, policy, deps.store.bucket, { resolveHost: false });
        if (train.weights.kind === 'imagenet') await checkLocation(train.weights.location, { policy, purpose: 'dataset', what: 'training.weights.location', ownBucket: deps.store.bucket, resolveHost: false });
        const datasetId = datasetIdFor(config.dataset.source, config.dataset.id);
        return { config, datasetId, runId: runIdFor(config, datasetId) };
      });
    },

    /**
     * Asks this workflow run's trainModel to stop at its next check, keep its best checkpoint and finish.
     * The request is keyed by the workflow run, so a later resume (a new run of the same pipeline) trains on.
     */
    async requestTrainingStop(input: { runId: string; reason: string }): Promise<{ key: string }> {
      return runStage('requestTrainingStop', async () => {
        const exec = Context.current().info.workflowExecution;
        const key = stopRequestKey(input.runId, exec?.runId);
        await deps.store.putJson(key, { reason: input.reason, workflowId: exec?.workflowId ?? null, workflowRunId: exec?.runId ?? null, at: new Date().toISOString() });
        return { key };
      });
    },
  };
}
