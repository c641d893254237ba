/**
 * The end of a run: the weights to export (the best validated ones when configured or when stopped
 * early, else the last), the tfjs model under runs/<run>/model/, then its siamface-model.json sidecar
 * (written last: its presence means the export is complete) and the result in run.json.
 */
import type { DatasetManifest } from '../data/dataset-manifest';
import type { BackendSelection } from '../model/backend';
import type { ModelConfig } from '../model/tower';
import { saveModelToStore } from '../model/io';
import { redactDeep } from '../redact';
import type { TrainConfig } from './config';
import { readBest, restoreBestWeights } from './best-weights';
import { modelPrefix, modelSidecarKey } from './run-layout';
import { recordRunEnd } from './run-record';
import { cursorOf } from './schedule';
import type { TrainingModels } from './training-model';
import type { TrainingData } from './train-data';
import type { LeasedRun, StartPoint } from './init-or-resume';
import type { TrainingState } from './step-loop';
import type { SiamfaceModelJson, TrainModelInput, TrainModelResult } from './train-model';

export interface ExportContext {
  run: LeasedRun;
  input: TrainModelInput;
  cfg: TrainConfig;
  configHash: string;
  manifest: DatasetManifest;
  modelConfig: ModelConfig;
  backend: BackendSelection;
  data: TrainingData;
  models: TrainingModels;
  start: StartPoint;
}

export async function exportModel(x: ExportContext, state: TrainingState): Promise<TrainModelResult> {
  const { run, input, cfg, configHash, manifest, backend, data, start } = x;
  const { store, runId, fence } = run;
  const { plan, normalization, teacher } = data;
  const model = x.models.tower;
  const { step, stoppedEarly, best } = state;
  const mKey = modelPrefix(runId);
  const useBest = (stoppedEarly || cfg.finalWeights === 'best') && best !== null;
  const bestMeta = useBest ? await readBest(store, runId) : null;
  let exported: TrainModelResult['exported'] = { weights: 'last', step };
  if (bestMeta && bestMeta.configHash === configHash) {
    await restoreBestWeights(store, bestMeta, model);
    exported = { weights: 'best', step: bestMeta.step };
  }
  const result: TrainModelResult = {
    runId,
    modelKey: mKey,
    steps: step,
    totalSteps: plan.totalSteps,
    epochs: cursorOf(plan, Math.max(step - 1, 0)).epoch + (step > 0 ? 1 : 0),
    finalMetrics: state.metrics(),
    bestValAuc: best?.valAuc ?? null,
    bestStep: best?.step ?? null,
    exported,
    backend: backend.backend,
    configHash,
    ...(start.resumedFromStep !== undefined ? { resumedFromStep: start.resumedFromStep } : {}),
    stoppedEarly,
  };
  const sidecar: SiamfaceModelJson = {
    format: 'siamface-model',
    version: 1,
    runId,
    datasetId: input.datasetId,
    model: x.modelConfig,
    preprocessing: {
      inputSize: cfg.imageSize,
      crop: manifest.cropApplied ?? manifest.config?.crop ?? 'centre',
      datasetImageSize: manifest.config.imageSize,
      channels: 'RGB',
      layout: 'NHWC',
      scale: 1 / 255,
      mean: normalization.mean,
      std: normalization.std,
    },
    distance: 'euclidean',
    loss: { ...cfg.loss, contrastiveMargin: cfg.margin },
    teacher: cfg.teacher && teacher ? { ...cfg.teacher, teacherId: teacher.teacherId } : null,
    initialWeights: start.initialWeights,
    backend: { backend: backend.backend, detail: backend.detail, native: backend.native, gpu: backend.gpu },
    training: { config: redactDeep(cfg), configHash, plan, manifestKey: input.manifestKey, pairsKeys: input.pairsKeys },
    result,
    createdAt: new Date().toISOString(),
  };
  await fence();
  await saveModelToStore(model, store, mKey, { metadata: { siamface: { runId, configHash, inputSize: cfg.imageSize, exported } } });
  await fence();
  await store.putJson(modelSidecarKey(mKey), sidecar);
  await recordRunEnd(run, result);
  return result;
}
