/** A tiny, CPU-sized pipeline config over a real data subset, shared by the pipeline tests. */
import type { PipelineConfigInput } from '../../lib/pipeline/config';

/** A DenseNet of two one-layer blocks at 32 px: trains in seconds through the real code. */
export const TINY_TRAINING = {
  model: { blocks: [1, 1], growthRate: 8, headUnits: [32, 16], embeddingDim: 8 },
  weights: { kind: 'none' },
  batchSize: 4,
  phase1: { steps: 3, lr: 1e-3 },
  phase2: { steps: 3, lr: 1e-4 },
  warmupSteps: 1,
  checkpointEverySteps: 2,
  valPairsLimit: 16,
  backend: 'wasm',
};

export function tinyPipelineConfig(datasetDir: string, queues: { cpu: string; gpu: string }, overrides: Partial<PipelineConfigInput> = {}): PipelineConfigInput {
  return {
    dataset: { source: { kind: 'folder', location: datasetDir } },
    preprocessing: { imageSize: 32, crop: 'centre', shardSize: 40 },
    split: { seed: 0, fractions: { train: 0.6, val: 0.2, test: 0.2 } },
    pairs: { seed: 1, perSplit: { train: 64, val: 24, test: 24 } },
    training: TINY_TRAINING,
    evaluation: { batchSize: 16 },
    promotion: { modelName: 'tiny' },
    taskQueues: queues,
    heartbeatTimeoutSeconds: { data: 30, train: 20, evaluate: 30 },
    ...overrides,
  } as PipelineConfigInput;
}
