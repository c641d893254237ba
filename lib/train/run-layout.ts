/** Where a training run keeps its objects: `runs/<run>/...` (see ARCHITECTURE.md, storage layout). */
import { badInput } from '../errors';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkRunId(runId: string): string {
  if (typeof runId !== 'string' || !RUN_ID.test(runId)) {
    throw badInput(`run id ${JSON.stringify(runId)} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return runId;
}

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
export const bestPrefix = (runId: string) => `${runPrefix(runId)}best/`;
/** Who may write the run: the newest training attempt (lib/train/lease). */
export const leaseKey = (runId: string) => `${runPrefix(runId)}lease.json`;
/**
 * Any object here asks a run to stop early and export its best checkpoint. With a scope (the pipeline's
 * workflow run) the request binds only that pipeline run, so a resumed pipeline, a new run, trains on.
 */
export const stopRequestKey = (runId: string, scope?: string) => {
  if (scope !== undefined && !RUN_ID.test(scope)) throw badInput(`stop request scope ${JSON.stringify(scope)} must be 1-128 characters of letters, digits, '.', '_' or '-'`);
  return `${runPrefix(runId)}control/stop-requested${scope !== undefined ? `-${scope}` : ''}`;
};
/** The sidecar the pipeline and serving read: config, preprocessing, backend, training summary. */
export const SIAMFACE_MODEL_JSON = 'siamface-model.json';
