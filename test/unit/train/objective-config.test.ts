/** Backbone, loss and teacher settings of the training config: defaults per backbone, and errors naming the field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTrainConfig } from '../../../lib/train/config';
import { SiamfaceError } from '../../../lib/errors';

const named = (field: string) => (err: unknown) => err instanceof SiamfaceError && err.code === 'bad_input' && err.message.includes(field) && (err.details as { field?: string })?.field === field;

test('faceres34 defaults: its own input size, its package weights; densenet121 keeps ImageNet', () => {
  const face = resolveTrainConfig({ model: { backbone: 'faceres34' } });
  assert.equal(face.imageSize, 150);
  assert.deepEqual(face.weights, { kind: 'pretrained' });
  assert.deepEqual(face.loss, { kind: 'contrastive' });
  assert.equal(face.teacher, null);
  const dense = resolveTrainConfig({});
  assert.equal(dense.weights.kind, 'imagenet');
  assert.equal(dense.imageSize, 112);
});

test('margin losses take InsightFace defaults; the string form is the kind', () => {
  assert.deepEqual(resolveTrainConfig({ loss: 'cosface', weights: { kind: 'none' } }).loss, { kind: 'cosface', scale: 64, margin: 0.35, pairWeight: 0, centres: 'random' });
  assert.deepEqual(resolveTrainConfig({ loss: { kind: 'arcface', pairWeight: 0.5 }, weights: { kind: 'none' } }).loss, { kind: 'arcface', scale: 64, margin: 0.5, pairWeight: 0.5, centres: 'random' });
});

test('a teacher of the right embedding size is accepted, with weight 1 by default', () => {
  const cfg = resolveTrainConfig({ imageSize: 64, weights: { kind: 'none' }, teacher: { backbone: 'faceres34' } });
  assert.deepEqual(cfg.teacher, { backbone: 'faceres34', weight: 1 });
  assert.deepEqual(resolveTrainConfig({ imageSize: 64, weights: { kind: 'none' }, loss: 'none', teacher: { backbone: 'faceres34', weight: 2 } }).loss, { kind: 'none' });
});

test('bad backbones, losses and teachers are refused, naming the field', () => {
  const bad: [object, string][] = [
    [{ model: { backbone: 'resnet50' } }, 'model.backbone'],
    [{ model: { backbone: 'faceres34' }, imageSize: 112 }, 'imageSize'],
    [{ model: { backbone: 'faceres34' }, weights: { kind: 'imagenet', location: '/w.h5' } }, 'weights.kind'],
    [{ loss: 'triplet' }, 'loss.kind'],
    [{ loss: { kind: 'cosface', margin: 2 } }, 'loss.margin'],
    [{ loss: { kind: 'arcface', scale: 0 } }, 'loss.scale'],
    [{ loss: { kind: 'contrastive', scale: 30 } }, 'loss.scale'],
    [{ loss: { kind: 'cosface', temperature: 1 } }, 'loss.temperature'],
    [{ loss: 'none' }, 'loss.kind'],
    [{ teacher: { backbone: 'densenet121' } }, 'teacher.backbone'],
    [{ teacher: { backbone: 'faceres34', weight: -1 } }, 'teacher.weight'],
    [{ teacher: { backbone: 'faceres34' }, model: { embeddingDim: 64 } }, 'teacher.backbone'],
  ];
  for (const [input, field] of bad) {
    assert.throws(() => resolveTrainConfig({ weights: { kind: 'none' }, ...input } as never), named(field), `expected an error naming ${field} for ${JSON.stringify(input)}`);
  }
});
