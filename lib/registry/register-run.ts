/** The promote stage: publish a run's model as a new version, then apply the promotion rule to it. */
import type { ObjectStore } from '../storage/object-store';
import type { RunContext } from '../progress';
import { readEvalReport } from '../eval/report-store';
import type { ModelDescription } from './model-card';
import { publishModelVersion, type RegistryStore } from './versions';
import { promoteVersion, type PromotionDecision, type PromotionRule } from './promotion';

export interface RegisterRunInput {
  modelName: string;
  runId: string;
  model: ModelDescription;
  training: { configId?: string; config: Record<string, unknown> };
  dataset?: { id: string; manifestChecksum?: string };
  rule?: Partial<PromotionRule>;
  /** False: publish the version but leave production alone (default true). */
  promote?: boolean;
}

export interface RegisterRunResult {
  modelName: string;
  version: number;
  /** False when this run had been published before (the same version is reused). */
  published: boolean;
  decision: PromotionDecision | null;
  productionVersion: number | null;
  decisionKey: string | null;
}

export async function registerRun(store: RegistryStore & Pick<ObjectStore, 'putJson'>, input: RegisterRunInput, ctx: RunContext): Promise<RegisterRunResult> {
  const report = await readEvalReport(store, input.runId);
  const { card, created } = await publishModelVersion(
    store,
    { name: input.modelName, runId: input.runId, report, model: input.model, training: input.training, dataset: input.dataset },
    ctx,
  );
  if (input.promote === false) {
    return { modelName: input.modelName, version: card.version, published: created, decision: null, productionVersion: null, decisionKey: null };
  }
  const result = await promoteVersion(store, input.modelName, card.version, { rule: input.rule });
  ctx.log('promotion decision', { model: input.modelName, version: card.version, outcome: result.decision.outcome, reason: result.decision.reason });
  return {
    modelName: input.modelName,
    version: card.version,
    published: created,
    decision: result.decision,
    productionVersion: result.production?.version ?? null,
    decisionKey: result.decisionKey,
  };
}
