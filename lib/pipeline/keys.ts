/** Object keys of a training run (runs/<run>/...), shared by the pipeline, training and the CLI. */
export const runPrefix = (runId: string) => `runs/${runId}/`;
/** The training loop polls for this object and stops early (keeping the best checkpoint) when it appears. */
export const stopRequestKey = (runId: string) => `runs/${runId}/control/stop-requested`;
