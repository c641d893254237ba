import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backboneName, describeModel } from '../../../lib/registry/describe-model';

describe('describeModel', () => {
  it('prefers what the trainer saved in model.json', () => {
    const d = describeModel({ backend: 'tensorflow', model: { inputSize: 112, embeddingDim: 256, blocks: [6, 12, 24, 16] }, preprocessing: { custom: true } }, { preprocessing: { imageSize: 64 } });
    assert.deepEqual(d, { backbone: 'densenet121', inputSize: 112, embeddingDim: 256, preprocessing: { custom: true }, backend: 'tensorflow' });
  });

  it('falls back to the pipeline config and says when the backend is unknown', () => {
    const d = describeModel(undefined, { preprocessing: { imageSize: 96, crop: 'face-align' }, training: { model: { blocks: [2, 2], growthRate: 8 } } });
    assert.equal(d.backbone, 'densenet(blocks=2-2,growth=8)');
    assert.equal(d.inputSize, 96);
    assert.equal(d.backend, 'unknown');
    assert.equal(d.preprocessing.crop, 'face-align');
    assert.deepEqual(d.preprocessing.mean, [0.485, 0.456, 0.406]);
  });

  it('names DenseNet121 only for its real block layout', () => {
    assert.equal(backboneName([6, 12, 24, 16], 32), 'densenet121');
    assert.equal(backboneName([6, 12, 24, 16], 16), 'densenet(blocks=6-12-24-16,growth=16)');
  });
});
