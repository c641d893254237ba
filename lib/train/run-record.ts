/** runs/<run>/run.json: what a run trains on, its attempts and, once done, its result. */
import { SiamfaceError } from '../errors';
import type { BackendSelection } from '../model/backend';
import { redactDeep } from '../redact';
import type { ObjectStore } from '../storage/object-store';
import type { TrainConfig } from './config';
import type { LeasedRun } from './init-or-resume';
import { runJsonKey } from './run-layout';
import type { StepPlan } from './schedule';
import type { TrainModelInput, TrainModelResult } from './train-model';

export interface RunJson {
  runId: string;
  datasetId: string;
  manifestKey: string;
  pairsKeys: TrainModelInput['pairsKeys'];
  configHash: string;
  config: TrainConfig;
  plan: StepPlan;
  status: 'running' | 'completed' | 'stopped';
  attempts: { startedAt: string; attempt: number; leaseGeneration: number; backend: string; backendDetail: string; resumedFromStep: number | null }[];
  result?: TrainModelResult;
  updatedAt: string;
}

/** Marks the run running and appends this attempt. */
export async function recordAttemptStart(
  run: LeasedRun,
  input: TrainModelInput,
  training: { cfg: TrainConfig; configHash: string; plan: StepPlan; backend: BackendSelection; resumedFromStep?: number },
): Promise<void> {
  const { cfg, configHash, plan, backend, resumedFromStep } = training;
  const { lease } = run.lease;
  await updateRunJson(run.store, run.runId, run.fence, (prev) => ({
    runId: run.runId,
    datasetId: input.datasetId,
    manifestKey: input.manifestKey,
    pairsKeys: input.pairsKeys,
    configHash,
    config: redactDeep(cfg), // stored: a signed weights URL keeps no signature
    plan,
    status: 'running',
    attempts: [...(prev?.attempts ?? []), { startedAt: new Date().toISOString(), attempt: lease.attempt, leaseGeneration: lease.generation, backend: backend.backend, backendDetail: backend.detail, resumedFromStep: resumedFromStep ?? null }],
    updatedAt: new Date().toISOString(),
  }));
}

/** Records the run's outcome. */
export async function recordRunEnd(run: LeasedRun, result: TrainModelResult): Promise<void> {
  await updateRunJson(run.store, run.runId, run.fence, (prev) => ({ ...(prev as RunJson), status: result.stoppedEarly ? 'stopped' : 'completed', result, updatedAt: new Date().toISOString() }));
}

const RUN_JSON_TRIES = 5;

/** Read-modify-write of run.json, conditional on the ETag read (and on holding the lease), so no update is lost. */
async function updateRunJson(store: ObjectStore, runId: string, fence: () => Promise<void>, update: (prev: RunJson | null) => RunJson): Promise<void> {
  const key = runJsonKey(runId);
  for (let i = 0; i < RUN_JSON_TRIES; i++) {
    const prev = await store.getJsonIfExists<RunJson>(key);
    await fence();
    try {
      await store.putJson(key, update(prev?.value ?? null), prev ? { ifMatch: prev.etag } : { ifNoneMatch: '*' });
      return;
    } catch (err) {
      if (!(err instanceof SiamfaceError && err.code === 'precondition_failed')) throw err;
    }
  }
  throw new SiamfaceError('transient', `${store.uri(key)}: changed under every one of ${RUN_JSON_TRIES} updates`, { permanent: false });
}
