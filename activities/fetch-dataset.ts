import { fetchDataset, type FetchInput, type FetchResult } from '../lib/data/fetch-dataset';
import { runStage, type ActivityDeps } from './support';

export function fetchDatasetActivities(deps: ActivityDeps) {
  return {
    /** Copies a data set into datasets/<id>/raw/; idempotent, resumes from what is already stored. */
    async fetchDataset(input: FetchInput): Promise<FetchResult> {
      return runStage('fetchDataset', (ctx) => fetchDataset(deps.store, input, ctx));
    },
  };
}
