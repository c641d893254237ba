import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decidePromotion, promotionRule } from '../../../lib/registry/promotion';
import { nextAlias, rolledBackAlias, type ProductionAlias } from '../../../lib/registry/production';
import { modelCardKey, productionKey, versionOfCardKey, checkModelName } from '../../../lib/registry/keys';
import { codeVersion } from '../../../lib/registry/code-version';
import type { ModelCard } from '../../../lib/registry/model-card';
import type { HeadlineMetrics } from '../../../lib/eval/types';

function card(version: number, metrics: Partial<HeadlineMetrics>, opts: { checksum?: string; status?: ModelCard['status'] } = {}): ModelCard {
  const summary = { checksum: opts.checksum ?? 'a'.repeat(64), pairs: 10, genuine: 5, impostor: 5, images: 20, identities: null };
  return {
    schemaVersion: 1,
    name: 'faces',
    version,
    status: opts.status ?? 'ready',
    createdAt: '2024-01-01T00:00:00.000Z',
    parentRun: `run-${version}`,
    codeVersion: 'test',
    model: { backbone: 'densenet121', inputSize: 64, preprocessing: {}, backend: 'wasm', files: [] },
    dataset: { id: 'd' },
    training: { config: {} },
    evaluation: {
      reportKey: `runs/run-${version}/eval/report.json`,
      evaluatedAt: '2024-01-01T00:00:00.000Z',
      metrics: { rocAuc: 0.9, accuracy: 0.85, eer: 0.15, kFoldAccuracy: 0.85, kFoldStd: 0.01, tarAtFar1e1: 0.8, tarAtFar1e2: 0.5, tarAtFar1e3: 0.2, brier: 0.1, ece: 0.05, ...metrics },
      threshold: 1,
      farThreshold: { targetFar: 0.01, value: 0.8 },
      calibration: { method: 'logistic', intercept: 5, slope: -5 },
      pairs: { val: summary, test: summary },
    },
  };
}

describe('decidePromotion', () => {
  it('promotes when there is no production version', () => {
    const d = decidePromotion(card(1, {}), null);
    assert.equal(d.outcome, 'promoted');
    assert.equal(d.productionVersion, null);
    assert.match(d.reason, /no production version yet/);
  });

  it('promotes only when the candidate beats production by more than the margin (default metric: test ROC AUC)', () => {
    const prod = card(1, { rocAuc: 0.9 });
    assert.equal(decidePromotion(card(2, { rocAuc: 0.91 }), prod).outcome, 'promoted');
    const equal = decidePromotion(card(2, { rocAuc: 0.9 }), prod);
    assert.equal(equal.outcome, 'rejected');
    assert.match(equal.reason, /does not beat production.*0\.9000 vs production version 1's 0\.9000/);
    assert.equal(decidePromotion(card(2, { rocAuc: 0.905 }), prod, { metric: 'rocAuc', margin: 0.01 }).outcome, 'rejected');
    assert.equal(decidePromotion(card(2, { rocAuc: 0.915 }), prod, { metric: 'rocAuc', margin: 0.01 }).outcome, 'promoted');
  });

  it('uses the configured metric and knows which metrics are lower-is-better', () => {
    const prod = card(1, { rocAuc: 0.95, accuracy: 0.8, eer: 0.2 });
    const cand = card(2, { rocAuc: 0.9, accuracy: 0.85, eer: 0.25 });
    assert.equal(decidePromotion(cand, prod).outcome, 'rejected');
    assert.equal(decidePromotion(cand, prod, promotionRule({ metric: 'accuracy' })).outcome, 'promoted');
    assert.equal(decidePromotion(cand, prod, promotionRule({ metric: 'eer' })).outcome, 'rejected');
    assert.equal(decidePromotion(card(3, { eer: 0.1 }), prod, promotionRule({ metric: 'eer' })).outcome, 'promoted');
  });

  it('refuses to compare models evaluated on different test pairs', () => {
    const d = decidePromotion(card(2, { rocAuc: 0.99 }, { checksum: 'b'.repeat(64) }), card(1, { rocAuc: 0.5 }));
    assert.equal(d.outcome, 'refused');
    assert.match(d.reason, /different test pairs.*Evaluate both models on the same pairs/);
  });

  it('refuses unfinished versions and recognises the current production version', () => {
    assert.equal(decidePromotion(card(2, {}, { status: 'publishing' }), null).outcome, 'refused');
    assert.equal(decidePromotion(card(1, {}), card(1, {})).outcome, 'already-production');
    assert.equal(decidePromotion(card(2, { rocAuc: NaN }), null).outcome, 'refused');
  });

  it('validates the rule', () => {
    assert.throws(() => promotionRule({ metric: 'speed' as never }), /not one of rocAuc, accuracy/);
    assert.throws(() => promotionRule({ margin: -0.1 }), /margin must be a number >= 0/);
  });
});

describe('production alias history', () => {
  const at = (i: number) => `2024-01-0${i}T00:00:00.000Z`;
  const promote = (cur: ProductionAlias | null, v: number, i: number) => nextAlias('faces', cur, { version: v, since: at(i), action: 'promote', reason: `p${v}` });

  it('each promotion pushes the previous version onto the history', () => {
    const a3 = promote(promote(promote(null, 1, 1), 2, 2), 5, 3);
    assert.equal(a3.version, 5);
    assert.deepEqual(a3.history.map((h) => h.version), [1, 2]);
  });

  it('rollback restores the previous version, and again the one before', () => {
    const a3 = promote(promote(promote(null, 1, 1), 2, 2), 5, 3);
    const r1 = rolledBackAlias(a3, { reason: 'bad', at: at(4) });
    assert.equal(r1.version, 2);
    assert.equal(r1.action, 'rollback');
    assert.deepEqual(r1.history.map((h) => h.version), [1]);
    const r2 = rolledBackAlias(r1, { reason: 'worse', at: at(5) });
    assert.equal(r2.version, 1);
    assert.throws(() => rolledBackAlias(r2, { reason: 'x', at: at(6) }), /nothing to roll back to/);
  });

  it('rollback to a named earlier version', () => {
    const a3 = promote(promote(promote(null, 1, 1), 2, 2), 5, 3);
    assert.equal(rolledBackAlias(a3, { toVersion: 1, reason: 'r', at: at(4) }).version, 1);
    assert.throws(() => rolledBackAlias(a3, { toVersion: 4, reason: 'r', at: at(4) }), /never in production before 5 \(earlier: 1, 2\)/);
  });
});

describe('registry keys and lineage', () => {
  it('lays out models/<name>/versions/<v>/model-card.json and production.json', () => {
    assert.equal(modelCardKey('faces', 3), 'models/faces/versions/3/model-card.json');
    assert.equal(productionKey('faces'), 'models/faces/production.json');
    assert.equal(versionOfCardKey('faces', 'models/faces/versions/12/model-card.json'), 12);
    assert.equal(versionOfCardKey('faces', 'models/faces/versions/12/weights.bin'), undefined);
    assert.equal(versionOfCardKey('faces', 'models/faces/versions/01/model-card.json'), undefined);
  });

  it('rejects unsafe model names and versions', () => {
    assert.throws(() => checkModelName('../x'), /model name "..\/x"/);
    assert.throws(() => modelCardKey('faces', 0), /positive integer/);
  });

  it('code version: env override, else the git commit of this checkout', () => {
    assert.equal(codeVersion({ SIAMFACE_CODE_VERSION: 'v9' }), 'v9');
    assert.match(codeVersion({}), /^([0-9a-f]{40}(-dirty)?|siamface@\d+\.\d+\.\d+)$/);
  });
});
