import type { ObjectStore } from '../lib/storage/object-store';
import type { RunContext } from '../lib/progress';
import { SiamfaceError } from '../lib/errors';
import { evaluateRun, type EvaluateRunInput, type EvaluateRunResult } from '../lib/eval/evaluate-run';
import { prepareEvaluation, scoreEvaluation, type EvaluationSummary, type PrepareEvaluationInput, type PreparedEvaluation, type ScoreEvaluationInput } from '../lib/eval/evaluate-model';
import { sharedModelCache } from '../lib/verify/model-cache';
import type { EmbedFn } from '../lib/eval/types';
import { runStage, type ActivityDeps } from './support';

/** Builds the embedder of a run's model (loads the model; reads and preprocesses images by id). */
export type EmbedderFactory = (
  store: ObjectStore,
  model: { runId: string; modelKey?: string; manifestKey: string },
  ctx: RunContext,
) => Promise<{ embed: EmbedFn; dispose?: () => void | Promise<void> }>;

export function evaluateActivities(deps: ActivityDeps & { embedderFor?: EmbedderFactory }) {
  return {
    /** Threshold on validation pairs, metrics on test pairs; writes runs/<run>/eval/ (skips when done). */
    async evaluateRun(input: EvaluateRunInput): Promise<EvaluateRunResult> {
      return runStage('evaluateRun', async (ctx) => {
        const factory = deps.embedderFor;
        if (!factory) {
          throw new SiamfaceError('bad_input', 'evaluateRun has no embedder: the worker must pass `embedderFor` to evaluateActivities', { permanent: true });
        }
        // The embedder is built lazily so a finished evaluation is skipped without loading the model.
        let embedder: Awaited<ReturnType<EmbedderFactory>> | undefined;
        const embed: EmbedFn = async (ids) => {
          embedder ??= await factory(deps.store, { runId: input.runId, modelKey: input.modelKey, manifestKey: input.manifestKey }, ctx);
          return embedder.embed(ids);
        };
        try {
          return await evaluateRun(deps.store, input, embed, ctx);
        } finally {
          await embedder?.dispose?.();
        }
      });
    },

    /** `siamface evaluate`, step 1: checks the labelled pairs file and pins the model version. */
    async prepareEvaluation(input: PrepareEvaluationInput): Promise<PreparedEvaluation> {
      return runStage('prepareEvaluation', (ctx) => prepareEvaluation(deps.store, sharedModelCache(deps.store), input, ctx));
    },

    /** `siamface evaluate`, last step: metrics on the scored pairs at the model's own threshold; writes the report. */
    async scoreEvaluation(input: ScoreEvaluationInput): Promise<EvaluationSummary> {
      return runStage('scoreEvaluation', (ctx) => scoreEvaluation(deps.store, input, ctx));
    },
  };
}
