import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { PIPELINE_DEFAULTS, PipelineConfigError, resolvePipelineConfig, configSummary } from '../../../lib/pipeline/config';
import { buildPipelineInput } from '../../../cli/commands/pipeline';

const folder = { dataset: { source: { kind: 'folder', location: '/data/faces' } } };

test('defaults fill everything but the dataset, and given fields override them', () => {
  const cfg = resolvePipelineConfig({ ...folder, preprocessing: { imageSize: 96 }, promotion: { modelName: 'm1' } });
  assert.equal(cfg.preprocessing.imageSize, 96);
  assert.equal(cfg.preprocessing.shardSize, PIPELINE_DEFAULTS.preprocessing.shardSize);
  assert.deepEqual(cfg.split, PIPELINE_DEFAULTS.split);
  assert.equal(cfg.promotion.modelName, 'm1');
  assert.equal(cfg.promotion.metric, 'rocAuc');
  assert.deepEqual(cfg.taskQueues, { cpu: 'siamface-cpu', gpu: 'siamface-gpu' });
  assert.equal(configSummary(cfg).dataset, 'folder /data/faces');
});

test('bad fields are named in the error', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{}, /dataset\.source: is required/],
    [{ dataset: { source: { kind: 'ftp' } } }, /dataset\.source\.kind: must be 'folder' or 'kaggle-celeba'/],
    [{ dataset: { source: { kind: 'kaggle-celeba' } } }, /dataset\.source\.identityFile: is required/],
    [{ ...folder, preprocessing: { imageSize: 16 } }, /preprocessing\.imageSize: must be >= 32/],
    [{ ...folder, preprocessing: { imagesize: 64 } }, /preprocessing\.imagesize: unknown field/],
    [{ ...folder, split: { fractions: { train: 0.5, val: 0.1, test: 0.1 } } }, /split\.fractions: must sum to 1/],
    [{ ...folder, pairs: { perSplit: { train: -1 } } }, /pairs\.perSplit\.train: must be a positive integer/],
    [{ ...folder, promotion: { modelName: 'Bad Name' } }, /promotion\.modelName/],
    [{ ...folder, epochs: 3 }, /epochs: unknown field/],
  ];
  for (const [input, message] of bad) {
    assert.throws(() => resolvePipelineConfig(input), (e: unknown) => e instanceof PipelineConfigError && message.test(e.message), `expected ${message} for ${JSON.stringify(input)}`);
  }
});

test('secrets are refused in the pipeline input', () => {
  assert.throws(() => resolvePipelineConfig({ dataset: { source: { kind: 'kaggle-celeba', identityFile: 'x', kaggleKey: 'abc' } } }), /dataset\.source\.kaggleKey: secrets do not belong/);
});

test('the CLI builds the input from flags, makes local paths absolute and checks Kaggle credentials for the default dataset', () => {
  const input = buildPipelineInput({ dataset: 'relative/faces', queue: 'q' });
  assert.deepEqual(input.dataset.source, { kind: 'folder', location: path.resolve('relative/faces') });
  assert.equal(buildPipelineInput({ dataset: 's3://bucket/faces/', queue: 'q' }).dataset.source.kind, 'folder');
  assert.equal((buildPipelineInput({ dataset: 's3://bucket/faces/', queue: 'q' }).dataset.source as { location: string }).location, 's3://bucket/faces/');
  assert.throws(() => buildPipelineInput({ queue: 'q' }, { HOME: '/nonexistent' }), /no Kaggle credentials were found: set KAGGLE_USERNAME and KAGGLE_KEY/);
  assert.throws(() => buildPipelineInput({ queue: 'q' }, { HOME: '/nonexistent', KAGGLE_USERNAME: 'u', KAGGLE_KEY: 'k' }), /identity_CelebA\.txt/);
  const celeba = buildPipelineInput({ queue: 'q', identityFile: 'https://example.org/identity_CelebA.txt' }, { HOME: '/nonexistent', KAGGLE_USERNAME: 'u', KAGGLE_KEY: 'k' });
  assert.deepEqual(celeba.dataset.source, { kind: 'kaggle-celeba', identityFile: 'https://example.org/identity_CelebA.txt' });
});
