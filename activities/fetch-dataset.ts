import { fetchDataset, type FetchInput, type FetchResult } from '../lib/data/fetch-dataset';
import { runStage, type ActivityDeps } from './support';

export function fetchDatasetActivities(deps: ActivityDeps) {
  return {
    /** Copies a data set into datasets/<id>/raw/; idempotent, resumes from what is already stored. */
    async fetchDataset(input: FetchInput): Promise<FetchResult> {
      // Where the worker writes its temporary files is its own business, never the input's.
      const { tmpDir: _ignored, ...fromInput } = input;
      return runStage('fetchDataset', (ctx) => fetchDataset(deps.store, fromInput, ctx, deps.policy));
    },
  };
}
