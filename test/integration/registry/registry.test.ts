import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { useStack, type TestStack } from '../../support/stack';
import { buildEvalReport } from '../../../lib/eval/evaluate-pairs';
import type { EvalReport, ScoredPair } from '../../../lib/eval/types';
import { publishModelVersion, listModelCards, readModelCard, listModelNames } from '../../../lib/registry/versions';
import { promoteVersion, rollbackVersion, listDecisions } from '../../../lib/registry/promotion';
import { readProduction, writeProduction, nextAlias } from '../../../lib/registry/production';
import { productionKey } from '../../../lib/registry/keys';
import { localRunContext } from '../../../lib/progress';
import { SiamfaceError } from '../../../lib/errors';
import { Command } from 'commander';
import { registerModelCommands } from '../../../cli/commands/models';

let stack: TestStack;
before(async () => {
  stack = await useStack('registry');
});
after(async () => stack?.close());

/** Scored pairs with a fixed pair list; `separation` moves impostors away, so AUC grows with it. */
function scored(prefix: string, n: number, separation: number, seed: number): ScoredPair[] {
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, (_, i) => {
    const label = (i % 2) as 0 | 1;
    return { a: `${prefix}${i}/a.jpg`, b: `${prefix}${i}/b.jpg`, label, distance: r() + (label ? 0 : separation) };
  });
}

function report(separation: number, testPrefix = 't'): EvalReport {
  return buildEvalReport(scored('v', 60, separation, 1), scored(testPrefix, 60, separation, 2), { kFolds: 5, lineage: { dataset: 'ds-1', datasetManifestChecksum: 'm'.repeat(64) } });
}

const files = new Map<string, Buffer>();
async function putRunModel(runId: string): Promise<void> {
  const weights = crypto.randomBytes(300_000);
  const json = Buffer.from(JSON.stringify({ format: 'layers-model', run: runId }));
  files.set(`${runId}/model.json`, json);
  files.set(`${runId}/weights.bin`, weights);
  await stack.store.putObject(`runs/${runId}/model/model.json`, json);
  await stack.store.putObject(`runs/${runId}/model/weights.bin`, weights);
}

const modelInfo = { backbone: 'densenet121', inputSize: 64, embeddingDim: 128, preprocessing: { scale: '1/255', mean: [0.485, 0.456, 0.406] }, backend: 'wasm' };
const publish = (name: string, runId: string, r: EvalReport) =>
  publishModelVersion(stack.store, { name, runId, report: r, model: modelInfo, training: { configId: 'cfg-1', config: { epochs: 1 } } }, localRunContext());

test('concurrent publishes get distinct version numbers; files are copied; re-publishing a run is idempotent', async () => {
  const runs = ['run-a', 'run-b', 'run-c', 'run-d'];
  await Promise.all(runs.map(putRunModel));
  const results = await Promise.all(runs.map((run, i) => publish('racer', run, report(0.2 + i * 0.1))));
  assert.deepEqual(results.map((r) => r.card.version).sort(), [1, 2, 3, 4]);
  assert.ok(results.every((r) => r.created && r.card.status === 'ready'));

  const card = results[0].card;
  const stored = await readModelCard(stack.store, 'racer', card.version);
  assert.equal(stored.status, 'ready');
  assert.equal(stored.parentRun, 'run-a');
  assert.equal(stored.dataset.id, 'ds-1');
  assert.equal(stored.evaluation.reportKey, 'runs/run-a/eval/report.json');
  assert.ok(stored.codeVersion.length > 0);
  assert.deepEqual(stored.model.files.map((f) => f.path).sort(), ['model.json', 'weights.bin']);
  const copied = await stack.store.getBuffer(`models/racer/versions/${card.version}/weights.bin`);
  assert.ok(copied.equals(files.get('run-a/weights.bin')!));

  const again = await publish('racer', 'run-a', report(0.2));
  assert.equal(again.created, false);
  assert.equal(again.card.version, card.version);
  assert.equal((await listModelCards(stack.store, 'racer')).length, 4);
  assert.ok((await listModelNames(stack.store)).includes('racer'));
});

test('a run without model files cannot be published', async () => {
  await assert.rejects(publish('racer', 'run-missing', report(0.3)), (e: unknown) => e instanceof SiamfaceError && e.code === 'not_found' && /runs\/run-missing\/model\//.test(e.message));
});

test('production.json: of concurrent conditional writes from the same state exactly one wins', async () => {
  const name = 'alias-race';
  // From "no production": five writers with If-None-Match '*'.
  const first = await Promise.allSettled([1, 2, 3, 4, 5].map((v) => writeProduction(stack.store, nextAlias(name, null, { version: v, since: 't0', action: 'promote', reason: `w${v}` }), null)));
  const won = first.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1, 'exactly one first write');
  assert.ok(first.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'precondition_failed'));
  const state = (await readProduction(stack.store, name))!;
  assert.equal(state.alias.version, (won[0] as PromiseFulfilledResult<{ alias: { version: number } }>).value.alias.version);

  // From an existing state: five writers with If-Match on the same ETag.
  const second = await Promise.allSettled([6, 7, 8, 9, 10].map((v) => writeProduction(stack.store, nextAlias(name, state.alias, { version: v, since: 't1', action: 'promote', reason: `w${v}` }), state)));
  assert.equal(second.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one update per ETag');
  const final = (await readProduction(stack.store, name))!;
  assert.ok(final.alias.version >= 6);
  assert.deepEqual(final.alias.history.map((h) => h.version), [state.alias.version], 'the loser did not overwrite the winner');
});

test('two concurrent promotions of equally good versions: exactly one becomes production', async () => {
  const name = 'twins';
  await Promise.all(['twin-1', 'twin-2'].map(putRunModel));
  const [a, b] = await Promise.all([publish(name, 'twin-1', report(0.5)), publish(name, 'twin-2', report(0.5))]);
  const results = await Promise.all([promoteVersion(stack.store, name, a.card.version), promoteVersion(stack.store, name, b.card.version)]);
  const outcomes = results.map((r) => r.decision.outcome).sort();
  assert.deepEqual(outcomes, ['promoted', 'rejected']);
  const winner = results.find((r) => r.decision.outcome === 'promoted')!;
  const prod = (await readProduction(stack.store, name))!;
  assert.equal(prod.alias.version, winner.decision.candidateVersion);
  assert.deepEqual(prod.alias.history, []);
  const decisions = await listDecisions(stack.store, name);
  assert.equal(decisions.length, 2);
  assert.ok(decisions.every((d) => d.productionAfter === winner.decision.candidateVersion));
});

test('promote a better model, reject a worse one, refuse different pairs, roll back', async () => {
  const name = 'faces';
  await Promise.all(['p-1', 'p-2', 'p-3', 'p-4'].map(putRunModel));
  const v1 = (await publish(name, 'p-1', report(0.3))).card.version;
  const v2 = (await publish(name, 'p-2', report(0.6))).card.version;
  const v3 = (await publish(name, 'p-3', report(0.4))).card.version;
  const v4 = (await publish(name, 'p-4', report(0.9, 'other'))).card.version;

  assert.equal((await promoteVersion(stack.store, name, v1)).decision.outcome, 'promoted');
  const r2 = await promoteVersion(stack.store, name, v2);
  assert.equal(r2.decision.outcome, 'promoted', r2.decision.reason);
  assert.ok(r2.decision.candidateValue > r2.decision.productionValue!);

  const r3 = await promoteVersion(stack.store, name, v3);
  assert.equal(r3.decision.outcome, 'rejected');
  assert.match(r3.decision.reason, /does not beat production/);
  const r4 = await promoteVersion(stack.store, name, v4);
  assert.equal(r4.decision.outcome, 'refused');
  assert.match(r4.decision.reason, /different test pairs/);
  // A margin larger than the gain blocks promotion on the chosen metric.
  const r3acc = await promoteVersion(stack.store, name, v3, { rule: { metric: 'accuracy', margin: 0.5 } });
  assert.equal(r3acc.decision.outcome, 'rejected');

  let prod = (await readProduction(stack.store, name))!;
  assert.equal(prod.alias.version, v2);
  assert.deepEqual(prod.alias.history.map((h) => h.version), [v1]);

  const rolled = await rollbackVersion(stack.store, name, { reason: 'v2 misbehaves in production' });
  assert.equal(rolled.production.version, v1);
  prod = (await readProduction(stack.store, name))!;
  assert.equal(prod.alias.version, v1);
  assert.equal(prod.alias.action, 'rollback');
  await assert.rejects(rollbackVersion(stack.store, name), /nothing to roll back to/);

  const decisions = await listDecisions(stack.store, name);
  assert.deepEqual(decisions.map((d) => d.outcome), ['promoted', 'promoted', 'rejected', 'refused', 'rejected', 'rolled-back']);
  assert.ok(await stack.store.exists(productionKey(name)));
});

test('a promotion that loses the race is judged again against the version that won', async () => {
  const name = 'late';
  await Promise.all(['late-1', 'late-2'].map(putRunModel));
  const strong = (await publish(name, 'late-1', report(0.8))).card.version;
  const weak = (await publish(name, 'late-2', report(0.3))).card.version;
  // The real store, except that right after the weak candidate reads "no production", the strong one
  // is promoted: the weak candidate's If-None-Match write must then fail and be decided again.
  let interfered = false;
  const racing = Object.create(stack.store) as typeof stack.store;
  racing.getJsonIfExists = async <T>(key: string) => {
    const got = await stack.store.getJsonIfExists<T>(key);
    if (key === productionKey(name) && !interfered) {
      interfered = true;
      assert.equal((await promoteVersion(stack.store, name, strong)).decision.outcome, 'promoted');
    }
    return got;
  };
  const late = await promoteVersion(racing, name, weak);
  assert.ok(interfered);
  assert.equal(late.decision.outcome, 'rejected', late.decision.reason);
  assert.equal(late.decision.productionVersion, strong);
  const decisions = await listDecisions(stack.store, name);
  assert.equal(decisions.find((d) => d.candidateVersion === weak)?.conflicts, 1);
  assert.equal((await readProduction(stack.store, name))!.alias.version, strong);
});

test('siamface models list|show|promote|rollback against the bucket', async () => {
  const name = 'cli-model';
  await Promise.all(['cli-1', 'cli-2'].map(putRunModel));
  const v1 = (await publish(name, 'cli-1', report(0.3))).card.version;
  const v2 = (await publish(name, 'cli-2', report(0.7))).card.version;
  const run = async (...args: string[]) => {
    const lines: string[] = [];
    const program = new Command('siamface').exitOverride();
    registerModelCommands(program, { store: () => stack.store, print: (l) => lines.push(l) });
    await program.parseAsync(['node', 'siamface', ...args]);
    return lines.join('\n');
  };
  assert.match(await run('models', 'promote', name, String(v1)), /^promoted: no production version yet/);
  assert.match(await run('models', 'promote', name, String(v2), '--metric', 'accuracy', '--margin', '0.9'), /^rejected: .*margin 0.9/);
  assert.match(await run('models', 'promote', name, String(v2)), /^promoted: version 2 is better/);
  const listed = JSON.parse(await run('models', 'list', '--json')) as { name: string; production: number; versions: number }[];
  assert.deepEqual(listed.find((r) => r.name === name), { name, versions: 2, latest: 2, production: v2 });
  const shown = await run('models', 'show', name);
  assert.match(shown, new RegExp(`^\\* v${v2} `, 'm'));
  assert.match(shown, /earlier: v1/);
  assert.match(await run('models', 'show', name, String(v2)), /in production[\s\S]*threshold \d\.\d{4}; ROC AUC/);
  assert.match(await run('models', 'rollback', name, '--reason', 'drill'), /^production: v1 \(drill\)/);
  await assert.rejects(run('models', 'show', name, 'x'), /version must be a positive integer/);
  await assert.rejects(run('models', 'promote', name, '1', '--metric', 'speed'), /not one of/);
});
