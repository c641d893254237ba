/** The faceres34 tower with face-api.js's weights, exported to ONNX and served as verification serves a model. */
import { buildEmbeddingTower } from '../../lib/model/tower';
import { BACKBONES } from '../../lib/model/backbones';
import { loadFaceApiWeights } from '../../lib/model/face-api-weights';
import { exportToOnnx } from '../../lib/infer/onnx-export';
import { OnnxEngine } from '../../lib/infer/engine';
import type { ServingModel } from '../../lib/verify/model-cache';

export async function pretrainedFaceresModel(): Promise<ServingModel> {
  const tower = buildEmbeddingTower({ backbone: 'faceres34' }, { seed: 1 });
  loadFaceApiWeights(tower);
  const engine = await OnnxEngine.create(exportToOnnx(tower), { log: () => undefined });
  tower.dispose();
  const spec = BACKBONES.faceres34;
  return {
    name: 'faceres34',
    version: 0,
    engine,
    prep: { inputSize: engine.inputSize, datasetImageSize: engine.inputSize, geometry: 'face-chip', normalization: spec.normalization },
    card: undefined as never,
  } as ServingModel;
}
