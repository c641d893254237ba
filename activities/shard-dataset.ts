import { createFaceAligner } from '../lib/data/face-aligner';
import { shardDataset, type ShardInput, type ShardResult } from '../lib/data/shard-dataset';
import { cropNeedsFace } from '../lib/data/preprocess';
import { runStage, type ActivityDeps } from './support';

export function shardDatasetActivities(deps: ActivityDeps) {
  return {
    /** Preprocesses raw images into tar shards per identity-disjoint split; skips shards already complete. */
    async shardDataset(input: ShardInput): Promise<ShardResult> {
      return runStage('shardDataset', async (ctx) => {
        const aligner = input.crop && cropNeedsFace(input.crop) ? await createFaceAligner() : undefined;
        return shardDataset(deps.store, input, ctx, { aligner });
      });
    },
  };
}
