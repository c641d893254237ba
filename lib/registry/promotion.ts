/**
 * The promotion rule and its application. A ready candidate version becomes production when there is
 * no production version yet, or when it beats production on the chosen test metric by more than the
 * margin, measured on the SAME test pairs (equal pair checksums). Every decision, including "no", is
 * recorded under `models/<name>/decisions/`.
 *
 * Different test pairs: the rule refuses (outcome 'refused') and says so, rather than comparing numbers
 * from different pairs. Re-evaluating production on the candidate's pairs needs the embedder and the
 * data, which belong to the evaluate stage: evaluate both on one pair set, then promote.
 */
import type { ObjectStore } from '../storage/object-store';
import { SiamfaceError, badInput } from '../errors';
import type { HeadlineMetrics } from '../eval/types';
import type { ModelCard } from './model-card';
import { decisionsPrefix } from './keys';
import { nextAlias, readProduction, rolledBackAlias, writeProduction, type ProductionAlias, type ProductionState } from './production';
import { readModelCard } from './versions';

export type PromotionMetric = keyof HeadlineMetrics;

/** Metrics where smaller is better; every other headline metric is larger-is-better. */
const LOWER_IS_BETTER: ReadonlySet<PromotionMetric> = new Set<PromotionMetric>(['eer', 'kFoldStd', 'brier', 'ece']);
const METRICS: readonly PromotionMetric[] = ['rocAuc', 'accuracy', 'eer', 'kFoldAccuracy', 'kFoldStd', 'tarAtFar1e1', 'tarAtFar1e2', 'tarAtFar1e3', 'brier', 'ece'];

export interface PromotionRule {
  /** Test metric compared (default 'rocAuc'). */
  metric: PromotionMetric;
  /** The candidate must be better by MORE than this (default 0: strictly better). */
  margin: number;
}

export const DEFAULT_PROMOTION_RULE: PromotionRule = { metric: 'rocAuc', margin: 0 };

export function promotionRule(input: Partial<PromotionRule> = {}): PromotionRule {
  const rule = { ...DEFAULT_PROMOTION_RULE, ...input };
  if (!METRICS.includes(rule.metric)) throw badInput(`promotion metric ${JSON.stringify(rule.metric)} is not one of ${METRICS.join(', ')}`);
  if (!(Number.isFinite(rule.margin) && rule.margin >= 0)) throw badInput(`promotion margin must be a number >= 0, got ${JSON.stringify(rule.margin)}`);
  return rule;
}

export type PromotionOutcome = 'promoted' | 'rejected' | 'refused' | 'already-production';

export interface PromotionDecision {
  outcome: PromotionOutcome;
  reason: string;
  metric: PromotionMetric;
  margin: number;
  candidateVersion: number;
  candidateValue: number;
  productionVersion: number | null;
  productionValue: number | null;
}

/** The rule itself (pure): should `candidate` replace `production`? */
export function decidePromotion(candidate: ModelCard, production: ModelCard | null, rule: PromotionRule = DEFAULT_PROMOTION_RULE): PromotionDecision {
  const { metric, margin } = rule;
  const candidateValue = candidate.evaluation.metrics[metric];
  const base = { metric, margin, candidateVersion: candidate.version, candidateValue, productionVersion: production?.version ?? null, productionValue: production ? production.evaluation.metrics[metric] : null };
  const no = (outcome: PromotionOutcome, reason: string): PromotionDecision => ({ ...base, outcome, reason });
  const v = (x: number) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : String(x));

  if (candidate.status !== 'ready') return no('refused', `version ${candidate.version} is still being published (status ${candidate.status})`);
  if (typeof candidateValue !== 'number' || !Number.isFinite(candidateValue)) return no('refused', `version ${candidate.version} has no finite test ${metric} (${String(candidateValue)})`);
  if (!production) return { ...base, outcome: 'promoted', reason: `no production version yet; version ${candidate.version} has test ${metric} ${v(candidateValue)}` };
  if (production.version === candidate.version) return no('already-production', `version ${candidate.version} is already in production`);

  const cPairs = candidate.evaluation.pairs.test.checksum;
  const pPairs = production.evaluation.pairs.test.checksum;
  if (cPairs !== pPairs) {
    return no(
      'refused',
      `version ${candidate.version} and production version ${production.version} were evaluated on different test pairs ` +
        `(checksums ${cPairs.slice(0, 12)}… and ${pPairs.slice(0, 12)}…); their ${metric} values cannot be compared. ` +
        `Evaluate both models on the same pairs, then promote.`,
    );
  }
  const productionValue = production.evaluation.metrics[metric];
  if (typeof productionValue !== 'number' || !Number.isFinite(productionValue)) {
    return { ...base, outcome: 'promoted', reason: `production version ${production.version} has no finite test ${metric}; version ${candidate.version} has ${v(candidateValue)}` };
  }
  const lower = LOWER_IS_BETTER.has(metric);
  const improvement = lower ? productionValue - candidateValue : candidateValue - productionValue;
  const comparison = `test ${metric} ${v(candidateValue)} vs production version ${production.version}'s ${v(productionValue)} (${lower ? 'lower' : 'higher'} is better, margin ${margin})`;
  if (improvement > margin) return { ...base, outcome: 'promoted', reason: `version ${candidate.version} is better: ${comparison}` };
  return no('rejected', `version ${candidate.version} does not beat production by more than the margin: ${comparison}`);
}

export interface DecisionRecord extends Partial<Omit<PromotionDecision, 'outcome'>> {
  schemaVersion: 1;
  name: string;
  at: string;
  action: 'promote' | 'rollback';
  outcome: PromotionOutcome | 'rolled-back';
  reason: string;
  /** Production version after the decision. */
  productionAfter: number | null;
  /** How many times the conditional write lost a race and the decision was made again. */
  conflicts?: number;
}

/** Keys sort in time order: `decisions/<ISO time with '-' for ':'>-<action>-v<version>-<random>.json`. */
export async function recordDecision(store: Pick<ObjectStore, 'putJson'>, record: DecisionRecord, version: number): Promise<string> {
  const stamp = record.at.replace(/:/g, '-');
  const key = `${decisionsPrefix(record.name)}${stamp}-${record.action}-v${version}-${Math.random().toString(36).slice(2, 8)}.json`;
  await store.putJson(key, record, { ifNoneMatch: '*' });
  return key;
}

export async function listDecisions(store: Pick<ObjectStore, 'listAll' | 'getJson'>, name: string): Promise<DecisionRecord[]> {
  const keys = (await store.listAll(decisionsPrefix(name))).map((o) => o.key).sort();
  return Promise.all(keys.map((k) => store.getJson<DecisionRecord>(k)));
}

export interface PromotionResult {
  decision: PromotionDecision;
  production: ProductionAlias | null;
  decisionKey: string;
}

/**
 * Applies the rule to version `version` of `name` and, if it wins, moves the production alias with a
 * conditional write. If another promotion changes production in between, the write fails, and the
 * decision is made again against the new production (up to `maxAttempts` times): of two concurrent
 * promotions at most one can replace a given production state, and the second is judged against the winner.
 */
export async function promoteVersion(
  store: Pick<ObjectStore, 'getJson' | 'getJsonIfExists' | 'putJson'>,
  name: string,
  version: number,
  opts: { rule?: Partial<PromotionRule>; now?: () => Date; maxAttempts?: number } = {},
): Promise<PromotionResult> {
  const rule = promotionRule(opts.rule);
  const candidate = await readModelCard(store, name, version);
  const maxAttempts = opts.maxAttempts ?? 5;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await readProduction(store, name);
    const production = current ? await readModelCard(store, name, current.alias.version) : null;
    const decision = decidePromotion(candidate, production, rule);
    const at = (opts.now?.() ?? new Date()).toISOString();
    let after: ProductionState | null = current;
    if (decision.outcome === 'promoted') {
      const alias = nextAlias(name, current?.alias ?? null, { version, since: at, action: 'promote', reason: decision.reason });
      try {
        after = await writeProduction(store, alias, current);
      } catch (err) {
        if (err instanceof SiamfaceError && err.code === 'precondition_failed') continue;
        throw err;
      }
    }
    const record: DecisionRecord = { schemaVersion: 1, name, at, action: 'promote', ...decision, productionAfter: after?.alias.version ?? null, conflicts: attempt };
    const decisionKey = await recordDecision(store, record, version);
    return { decision, production: after?.alias ?? null, decisionKey };
  }
  throw new SiamfaceError('precondition_failed', `promoting ${name} version ${version}: production kept changing during ${maxAttempts} attempts`, { permanent: false });
}

/** Rolls production back to the previous (or a given earlier) version and records the decision. */
export async function rollbackVersion(
  store: Pick<ObjectStore, 'getJsonIfExists' | 'putJson'>,
  name: string,
  opts: { toVersion?: number; reason?: string; now?: () => Date } = {},
): Promise<{ production: ProductionAlias; decisionKey: string }> {
  const current = await readProduction(store, name);
  if (!current) throw new SiamfaceError('not_found', `model ${name} has no production version; nothing to roll back`);
  const at = (opts.now?.() ?? new Date()).toISOString();
  const reason = opts.reason ?? `rollback from version ${current.alias.version}`;
  const alias = rolledBackAlias(current.alias, { toVersion: opts.toVersion, reason, at });
  const after = await writeProduction(store, alias, current);
  const record: DecisionRecord = {
    schemaVersion: 1,
    name,
    at,
    action: 'rollback',
    outcome: 'rolled-back',
    reason: `${reason} (version ${current.alias.version} -> ${alias.version})`,
    productionVersion: current.alias.version,
    productionAfter: alias.version,
  };
  const decisionKey = await recordDecision(store, record, alias.version);
  return { production: after.alias, decisionKey };
}
