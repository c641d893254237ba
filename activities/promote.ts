import { registerRun } from '../lib/registry/register-run';
import { describeRunModel } from '../lib/registry/describe-model';
import { promotionRule, type PromotionMetric } from '../lib/registry/promotion';
import { versionPrefix } from '../lib/registry/keys';
import { ensureOnnxExport } from '../lib/registry/onnx-artifact';
import { runStage, type ActivityDeps } from './support';

export interface PromoteRunInput {
  runId: string;
  modelName: string;
  rule?: { metric?: string; margin?: number };
  /** The pipeline config that trained the model: recorded in the model card, and the fallback description of the model. */
  trainingConfig?: Record<string, unknown>;
  configId?: string;
  /** False: register the version without touching production. */
  promote?: boolean;
}

export interface PromoteRunResult {
  outcome: 'promoted' | 'rejected' | 'refused' | 'already-production' | 'published';
  reason: string;
  version: number;
  versionKey: string;
  productionVersion: number | null;
  decisionKey: string | null;
  /** 'ready', or why the ONNX export failed (the version then serves with tfjs). */
  onnx?: string;
}

export function promoteActivities(deps: ActivityDeps) {
  return {
    /** Publishes the run's model as a new version (once per run) and promotes it if it beats production. */
    async promoteRun(input: PromoteRunInput): Promise<PromoteRunResult> {
      return runStage('promoteRun', async (ctx) => {
        // Heartbeats between the long steps (the copy reports per file); the first one starts the heartbeat clock.
        ctx.report({ stage: 'promote', step: 'register', runId: input.runId });
        const rule = promotionRule({ metric: (input.rule?.metric ?? 'rocAuc') as PromotionMetric, margin: input.rule?.margin ?? 0 });
        const config = input.trainingConfig ?? {};
        const result = await registerRun(
          deps.store,
          {
            modelName: input.modelName,
            runId: input.runId,
            model: await describeRunModel(deps.store, input.runId, config),
            training: { configId: input.configId, config },
            rule,
            promote: input.promote,
          },
          ctx,
        );
        ctx.report({ stage: 'promote', step: 'onnx', version: result.version, outcome: result.decision?.outcome ?? 'published' });
        // Fast serving: an ONNX copy of the version (parity-checked; a failure is recorded and tfjs serves).
        const onnx = await ensureOnnxExport(deps.store, input.modelName, result.version, ctx);
        return {
          outcome: result.decision?.outcome ?? 'published',
          reason: result.decision?.reason ?? 'published without promotion',
          version: result.version,
          versionKey: versionPrefix(input.modelName, result.version),
          productionVersion: result.productionVersion,
          decisionKey: result.decisionKey,
          onnx: onnx.status === 'ready' ? 'ready' : `failed: ${onnx.reason}`,
        };
      });
    },
  };
}
