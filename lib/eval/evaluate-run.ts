/**
 * The evaluate stage over the bucket: reads a dataset's val/test pairs, evaluates a run's model through
 * the given embedder and writes `runs/<run>/eval/`. Skips the work when a report for the same pairs exists.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../storage/object-store';
import type { RunContext } from '../progress';
import { loadPairs } from '../train/data-loader';
import { evaluatePairs } from './evaluate-pairs';
import { identityFromPath, pairsChecksum } from './pairs';
import { evalReportKey, writeEvalReport, type EvalReportKeys } from './report-store';
import { evalPrefix } from '../train/run-layout';
import type { EmbedFn, EvalReport, HeadlineMetrics } from './types';

export interface EvaluateRunInput {
  runId: string;
  datasetId: string;
  /** The shard set the pairs refer to (shardDataset's manifestKey): its images are embedded. */
  manifestKey: string;
  /** Pair files, as generatePairs returned them. */
  pairsKeys: { val: string; test: string };
  /** The evaluated model's location (recorded as the report's model id when modelName is not given). */
  modelKey?: string;
  /** Names recorded in the report's lineage. */
  modelName?: string;
  configId?: string;
  targetFar?: number;
  batchSize?: number;
  kFolds?: number;
}

export interface EvaluateRunResult {
  runId: string;
  reportKey: string;
  htmlKey: string;
  /** Headline test metrics (the same object as the report's `metrics`). */
  headline: HeadlineMetrics;
  threshold: number;
  testPairsChecksum: string;
  /** True when an existing report for the same pairs was kept. */
  skipped: boolean;
}

export async function evaluateRun(
  store: Pick<ObjectStore, 'getBuffer' | 'getJsonIfExists' | 'putObject' | 'putJson' | 'getJson' | 'uri'>,
  input: EvaluateRunInput,
  embed: EmbedFn,
  ctx: RunContext,
): Promise<EvaluateRunResult> {
  const { runId, datasetId } = input;
  const keys = input.pairsKeys;
  const [val, test] = await Promise.all([loadPairs(store as ObjectStore, keys.val), loadPairs(store as ObjectStore, keys.test)]);
  const existing = await store.getJsonIfExists<EvalReport>(evalReportKey(runId));
  const prefix = evalPrefix(runId);
  if (existing && existing.value.pairs.val.checksum === pairsChecksum(val) && existing.value.pairs.test.checksum === pairsChecksum(test)) {
    ctx.log('evaluation report for these pairs exists; skipping', { runId, key: evalReportKey(runId) });
    return summary(runId, existing.value, `${prefix}report.html`, true);
  }
  const manifest = await store.getBuffer(input.manifestKey);
  const report = await evaluatePairs(
    {
      val,
      test,
      embed,
      batchSize: input.batchSize,
      targetFar: input.targetFar,
      kFolds: input.kFolds,
      identityOf: identityFromPath,
      lineage: {
        run: runId,
        model: input.modelName ?? input.modelKey,
        dataset: datasetId,
        datasetManifestChecksum: createHash('sha256').update(manifest).digest('hex'),
        config: input.configId,
      },
    },
    ctx,
  );
  const written: EvalReportKeys = await writeEvalReport(store, runId, report);
  return summary(runId, report, written.html, false);
}

function summary(runId: string, report: EvalReport, htmlKey: string, skipped: boolean): EvaluateRunResult {
  return {
    runId,
    reportKey: evalReportKey(runId),
    htmlKey,
    headline: report.metrics,
    threshold: report.threshold.value,
    testPairsChecksum: report.pairs.test.checksum,
    skipped,
  };
}
