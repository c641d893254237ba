/** Where a training run keeps its objects: `runs/<run>/...` (see ARCHITECTURE.md, storage layout). */
import { joinKey } from '../storage/uri';
import { checkKeyId } from '../registry/keys';

export const checkRunId = (runId: string) => checkKeyId('run id', runId);

export const runPrefix = (runId: string) => `runs/${checkRunId(runId)}/`;
export const runJsonKey = (runId: string) => `${runPrefix(runId)}run.json`;
export const checkpointsPrefix = (runId: string) => `${runPrefix(runId)}checkpoints/`;
/**
 * Zero-padded so that listing order is step order. `writer` (the lease generation of the trainer
 * writing it) makes the name attempt-unique: two attempts never write into one checkpoint.
 */
export const checkpointPrefix = (runId: string, step: number, writer?: number) =>
  `${checkpointsPrefix(runId)}ckpt-${String(step).padStart(8, '0')}${writer === undefined ? '' : `-g${String(writer).padStart(6, '0')}`}/`;
/** Names the newest complete checkpoint; moved only by conditional writes. */
export const checkpointPointerKey = (runId: string) => `${checkpointsPrefix(runId)}latest.json`;
export const modelPrefix = (runId: string) => `${runPrefix(runId)}model/`;
/** The evaluation report and its plots (lib/eval/report-store). */
export const evalPrefix = (runId: string) => `${runPrefix(runId)}eval/`;
export const bestPrefix = (runId: string) => `${runPrefix(runId)}best/`;
/** Who may write the run: the newest training attempt (lib/train/lease). */
export const leaseKey = (runId: string) => `${runPrefix(runId)}lease.json`;
/**
 * Any object here asks a run to stop early and export its best checkpoint. With a scope (the pipeline's
 * workflow run) the request binds only that pipeline run, so a resumed pipeline, a new run, trains on.
 */
export const stopRequestKey = (runId: string, scope?: string) => {
  if (scope !== undefined) checkKeyId('stop request scope', scope);
  return `${runPrefix(runId)}control/stop-requested${scope !== undefined ? `-${scope}` : ''}`;
};
/** The sidecar the pipeline and serving read beside a model's files (`modelPrefix`, or any model prefix): config, preprocessing, backend, training summary. */
export const modelSidecarKey = (modelKeyPrefix: string) => joinKey(modelKeyPrefix, 'siamface-model.json');
