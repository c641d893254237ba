/**
 * All activities, built over their dependencies (the S3 store). Workers register the subset for
 * their queue; workflows import only the types (`import type`).
 */
import type { ActivityDeps } from './support';
import { pingActivities } from './ping';
import { pipelineActivities } from './pipeline';
import { fetchDatasetActivities } from './fetch-dataset';
import { shardDatasetActivities } from './shard-dataset';
import { generatePairsActivities } from './generate-pairs';
import { evaluateActivities } from './evaluate';
import { promoteActivities } from './promote';
import { trainActivities } from './train';
import { verifyActivities } from './verify';
import { runEmbedder } from '../lib/eval/run-embedder';

/** Queue siamface-cpu: data preparation, evaluation, promotion, verification, bookkeeping. */
export function cpuActivities(deps: ActivityDeps) {
  return {
    ...pingActivities(deps),
    ...pipelineActivities(deps),
    ...fetchDatasetActivities(deps),
    ...shardDatasetActivities(deps),
    ...generatePairsActivities(deps),
    ...evaluateActivities({ ...deps, embedderFor: runEmbedder }),
    ...promoteActivities(deps),
    ...verifyActivities(deps),
  };
}

/** Queue siamface-gpu: training. */
export function gpuActivities(deps: ActivityDeps) {
  return {
    ...trainActivities(deps),
  };
}

export type CpuActivities = ReturnType<typeof cpuActivities>;
export type GpuActivities = ReturnType<typeof gpuActivities>;
export type { ActivityDeps } from './support';
