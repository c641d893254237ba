import type { Command } from 'commander';
import { objectStoreFromEnv, type ObjectStore } from '../../lib/storage/object-store';
import { badInput } from '../../lib/errors';
import { listModelCards, listModelNames, readModelCard } from '../../lib/registry/versions';
import { readProduction } from '../../lib/registry/production';
import { promoteVersion, rollbackVersion, promotionRule, type PromotionMetric } from '../../lib/registry/promotion';
import type { ModelCard } from '../../lib/registry/model-card';
import { CLI_EXIT } from '../exit-codes';
import { finiteNumber, outputOf, positiveInt, type CliOutput } from '../options';

export interface ModelCommandDeps extends CliOutput {
  /** The store to use; defaults to the environment's (S3_* variables or the running local stack). */
  store?: () => ObjectStore;
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '-');
const num = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : '-');

/** positiveInt's rule, with an error that names the version (a positional argument, not a flag). */
function parseVersion(s: string): number {
  try {
    return positiveInt(s);
  } catch {
    throw badInput(`version must be a positive integer, got ${JSON.stringify(s)}`);
  }
}

function cardLine(c: ModelCard, productionVersion: number | undefined): string {
  const m = c.evaluation.metrics;
  const mark = c.version === productionVersion ? '*' : ' ';
  return `${mark} v${String(c.version).padEnd(4)} ${c.status.padEnd(10)} auc ${num(m.rocAuc)}  acc ${pct(m.accuracy)}  eer ${pct(m.eer)}  threshold ${num(c.evaluation.threshold)}  run ${c.parentRun}  ${c.createdAt}`;
}

/** `siamface models list|show|promote|rollback`: the model registry in the bucket. */
export function registerModelCommands(program: Command, deps: ModelCommandDeps = {}): void {
  const store = () => (deps.store ?? objectStoreFromEnv)();
  const { print } = outputOf(deps);
  const models = program.command('models').description('registered model versions, the production alias, promotion and rollback');

  models
    .command('list')
    .description('every model with its production version and number of versions')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const s = store();
      const rows = [];
      for (const name of await listModelNames(s)) {
        const [cards, production] = await Promise.all([listModelCards(s, name), readProduction(s, name)]);
        rows.push({ name, versions: cards.length, latest: cards.at(-1)?.version ?? null, production: production?.alias.version ?? null });
      }
      if (opts.json) return print(JSON.stringify(rows, null, 2));
      if (!rows.length) return print('no models registered');
      for (const r of rows) print(`${r.name.padEnd(24)} production ${r.production === null ? 'none' : `v${r.production}`}  versions ${r.versions}  latest ${r.latest === null ? '-' : `v${r.latest}`}`);
    });

  models
    .command('show')
    .description('versions of a model (production marked *), or one version\'s model card')
    .argument('<name>')
    .argument('[version]')
    .option('--json', 'print JSON')
    .action(async (name: string, version: string | undefined, opts: { json?: boolean }) => {
      const s = store();
      const production = await readProduction(s, name);
      if (version !== undefined) {
        const card = await readModelCard(s, name, parseVersion(version));
        if (opts.json) return print(JSON.stringify(card, null, 2));
        const m = card.evaluation.metrics;
        print(`${name} v${card.version} (${card.status})${production?.alias.version === card.version ? ' - in production' : ''}`);
        print(`  run ${card.parentRun}, code ${card.codeVersion}, created ${card.createdAt}`);
        print(`  model ${card.model.backbone}, input ${JSON.stringify(card.model.inputSize)}, backend ${card.model.backend}, ${card.model.files.length} files`);
        print(`  dataset ${card.dataset.id}${card.dataset.manifestChecksum ? ` (manifest ${card.dataset.manifestChecksum.slice(0, 12)}…)` : ''}, config ${card.training.configId ?? '-'}`);
        print(`  test pairs ${card.evaluation.pairs.test.pairs} (checksum ${card.evaluation.pairs.test.checksum.slice(0, 12)}…)`);
        print(`  threshold ${num(card.evaluation.threshold)}; ROC AUC ${num(m.rocAuc)}, accuracy ${pct(m.accuracy)}, EER ${pct(m.eer)}, 10-fold ${pct(m.kFoldAccuracy)} ± ${pct(m.kFoldStd)}`);
        print(`  TAR@FAR 1e-1 ${pct(m.tarAtFar1e1)}, 1e-2 ${pct(m.tarAtFar1e2)}, 1e-3 ${pct(m.tarAtFar1e3)}; Brier ${num(m.brier)}, ECE ${num(m.ece)}`);
        print(`  report ${card.evaluation.reportKey}`);
        return;
      }
      const cards = await listModelCards(s, name);
      if (opts.json) return print(JSON.stringify({ production: production?.alias ?? null, versions: cards }, null, 2));
      if (!cards.length) throw badInput(`model ${name} has no versions`);
      for (const c of cards) print(cardLine(c, production?.alias.version));
      if (production) {
        print(`production: v${production.alias.version} since ${production.alias.since} (${production.alias.action}: ${production.alias.reason})`);
        if (production.alias.history.length) print(`earlier: ${production.alias.history.map((h) => `v${h.version}`).join(' -> ')}`);
      } else {
        print('production: none');
      }
    });

  models
    .command('promote')
    .description('make a version production if the promotion rule allows it (the decision is recorded either way)')
    .argument('<name>')
    .argument('<version>')
    .option('--metric <metric>', 'test metric to compare (rocAuc, accuracy, eer, kFoldAccuracy, tarAtFar1e2, ...)', 'rocAuc')
    .option('--margin <number>', 'how much better than production the candidate must be', finiteNumber, 0)
    .option('--json', 'print JSON')
    .action(async (name: string, version: string, opts: { metric: string; margin: number; json?: boolean }) => {
      const rule = promotionRule({ metric: opts.metric as PromotionMetric, margin: opts.margin });
      const result = await promoteVersion(store(), name, parseVersion(version), { rule });
      if (result.decision.outcome === 'refused') process.exitCode = CLI_EXIT.negative;
      if (opts.json) return print(JSON.stringify(result, null, 2));
      print(`${result.decision.outcome}: ${result.decision.reason}`);
      print(`production: ${result.production ? `v${result.production.version}` : 'none'}  (decision ${result.decisionKey})`);
    });

  models
    .command('rollback')
    .description('put the previous production version (or --to an earlier one) back into production')
    .argument('<name>')
    .option('--to <version>', 'an earlier production version to return to')
    .option('--reason <text>', 'why (recorded)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { to?: string; reason?: string; json?: boolean }) => {
      const result = await rollbackVersion(store(), name, { toVersion: opts.to === undefined ? undefined : parseVersion(opts.to), reason: opts.reason });
      if (opts.json) return print(JSON.stringify(result, null, 2));
      print(`production: v${result.production.version} (${result.production.reason})  (decision ${result.decisionKey})`);
    });
}
