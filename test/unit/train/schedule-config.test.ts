import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSteps, positionOf, warmupCosineLr } from '../../../lib/train/schedule';
import { resolveTrainConfig, trainConfigHash, DEFAULT_TRAIN_CONFIG } from '../../../lib/train/config';
import { SiamfaceError } from '../../../lib/errors';

test('warm-up rises linearly to the peak, then cosine decays to the floor at the last step', () => {
  const lr = 1e-3;
  assert.equal(warmupCosineLr(0, 100, lr, 10, 0.01), lr / 10);
  assert.equal(warmupCosineLr(4, 100, lr, 10, 0.01), lr / 2);
  assert.equal(warmupCosineLr(10, 100, lr, 10, 0.01), lr);
  assert.ok(Math.abs(warmupCosineLr(99, 100, lr, 10, 0.01) - lr * 0.01) < 1e-15);
  // Half-way through the decay the cosine is at its mid-point.
  const mid = warmupCosineLr(10 + Math.round(89 / 2), 100, lr, 10, 0);
  assert.ok(Math.abs(mid - lr / 2) < lr * 0.02, `mid ${mid}`);
  // Monotone decreasing after warm-up.
  for (let s = 11; s < 100; s++) assert.ok(warmupCosineLr(s, 100, lr, 10, 0.01) <= warmupCosineLr(s - 1, 100, lr, 10, 0.01));
  // Degenerate lengths stay finite.
  assert.equal(warmupCosineLr(0, 1, lr, 10, 0.01), lr);
  assert.ok(Number.isFinite(warmupCosineLr(0, 2, lr, 0, 0.5)));
});

test('the step plan splits phases and epochs; positions are pure functions of the step', () => {
  const cfg = resolveTrainConfig({ batchSize: 4, phase1: { epochs: 1, lr: 1e-3 }, phase2: { steps: 7, lr: 1e-4 }, warmupSteps: 2, weights: { kind: 'none' } });
  const plan = planSteps(cfg, 22); // 5 full batches of 4 (2 pairs dropped)
  assert.deepEqual(plan, { stepsPerEpoch: 5, phase1Steps: 5, phase2Steps: 7, totalSteps: 12, epochs: 3 });
  const p = (s: number) => positionOf(cfg, plan, s);
  assert.equal(p(0).phase, 1);
  assert.equal(p(4).phase, 1);
  assert.equal(p(4).endsEpoch, true);
  assert.equal(p(5).phase, 2);
  assert.equal(p(5).phaseStep, 0);
  assert.equal(p(5).lr, 1e-4 / 2, 'phase 2 warms up again from its own lr');
  assert.deepEqual([p(7).epoch, p(7).index], [1, 2]);
  assert.equal(p(11).endsEpoch, true, 'the last step ends a (partial) epoch');
  const capped = planSteps(resolveTrainConfig({ batchSize: 4, stepsPerEpoch: 2, weights: { kind: 'none' } }), 22);
  assert.equal(capped.stepsPerEpoch, 2);
});

test('config: defaults merge, and errors name the bad field', () => {
  const cfg = resolveTrainConfig({ batchSize: 8, augment: { flip: false } });
  assert.equal(cfg.batchSize, 8);
  assert.equal(cfg.augment.flip, false);
  assert.equal(cfg.augment.scaleJitter, DEFAULT_TRAIN_CONFIG.augment.scaleJitter);
  assert.equal(cfg.phase2.lr, DEFAULT_TRAIN_CONFIG.phase2.lr);
  const bad: [object, string][] = [
    [{ batchSize: 0 }, 'batchSize'],
    [{ phase1: { lr: -1 } }, 'phase1.lr'],
    [{ phase2: { epochs: 1.5 } }, 'phase2.epochs'],
    [{ margin: 3 }, 'margin'],
    [{ augment: { brightness: 2 } }, 'augment.brightness'],
    [{ augment: { hue: 0.1 } }, 'augment.hue'],
    [{ backend: 'gpu' }, 'backend'],
    [{ weights: { kind: 'imagenet', location: '' } }, 'weights.location'],
    [{ learningRate: 1 }, 'learningRate'],
    [{ model: { blocks: [] } }, 'model'],
    [{ imageSize: 8 }, 'imageSize'],
  ];
  for (const [input, field] of bad) {
    assert.throws(
      () => resolveTrainConfig(input as never),
      (err: unknown) => err instanceof SiamfaceError && err.code === 'bad_input' && err.message.includes(field) && (err.details as { field?: string })?.field === field,
      `expected an error naming ${field} for ${JSON.stringify(input)}`,
    );
  }
});

test('the config hash ignores execution-only fields but not the trajectory', () => {
  const a = resolveTrainConfig({ weights: { kind: 'none' } });
  const data = { datasetId: 'd' };
  assert.equal(trainConfigHash(a, data), trainConfigHash({ ...a, prefetch: 7, keepCheckpoints: 9, backend: 'cpu' }, data));
  assert.notEqual(trainConfigHash(a, data), trainConfigHash({ ...a, seed: 2 }, data));
  assert.notEqual(trainConfigHash(a, data), trainConfigHash(a, { datasetId: 'e' }));
});
