import { generatePairs, type PairsInput, type PairsResult } from '../lib/data/generate-pairs';
import { runStage, type ActivityDeps } from './support';

export function generatePairsActivities(deps: ActivityDeps) {
  return {
    /** Writes balanced same/different pairs per split from the shard indexes. */
    async generatePairs(input: PairsInput): Promise<PairsResult> {
      return runStage('generatePairs', (ctx) => generatePairs(deps.store, input, ctx));
    },
  };
}
