/**
 * `siamface evaluate`: any registered model version on any labelled pairs file, with the pipeline's
 * evaluation protocol and report. The evaluateModel workflow runs three steps:
 *
 * - prepareEvaluation: checks the pairs file (every row labelled 0/1, both classes present), pins the
 *   model version and derives the evaluation id from (model version, input object, detect mode), so a
 *   rerun resumes the same evaluation.
 * - the pairs are embedded and scored as a batch verification job (`jobs/<eval id>/`: chunked,
 *   resumable, one embedding per unique image, per-row errors such as missing images or no face);
 * - scoreEvaluation: the threshold and calibration come from the model's own validation pairs (the
 *   distances its pipeline evaluation recorded), exactly as the evaluate stage chose them; every metric is
 *   measured on the given pairs. Writes `evaluations/<eval id>/report.json|report.html|*.svg` (report.json
 *   last). Rows that failed are left out of the metrics and counted by error code.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../storage/object-store';
import { isUri, parseUri } from '../storage/uri';
import { storeForBucket } from '../storage/open-location';
import { SiamfaceError, badInput } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import { readModelCard } from '../registry/versions';
import type { ModelCache } from '../verify/model-cache';
import { checkDetectMode } from '../verify/detection-policy';
import { csvHeader, DEFAULT_COLUMNS, formatOf, parseRow, readRecords, type CsvColumns, type BatchInputFormat } from '../verify/batch-input';
import { parseResultLines } from '../verify/batch-results';
import { resultsKey } from '../verify/job-layout';
import { errorTotal, tallyRows, type ErrorCounts } from '../verify/row-tally';
import type { DetectMode, ModelRef } from '../verify/types';
import { buildEvalReport } from './evaluate-pairs';
import { writeEvalReportAt, type EvalReportKeys } from './report-store';
import { evaluationPrefix } from './evaluation-layout';
import type { EvalReport, HeadlineMetrics, ScoredPair } from './types';

export interface PrepareEvaluationInput {
  /** Key in the workers' bucket, or an s3:// URI, of a CSV `a,b,label` or JSONL {a, b, label}. */
  input: string;
  model?: Partial<ModelRef>;
  detect?: DetectMode;
}

export interface PreparedEvaluation {
  evalId: string;
  model: { name: string; version: number };
  rows: number;
  genuine: number;
  impostor: number;
  detect: DetectMode;
}

export interface ScoreEvaluationInput {
  evalId: string;
  model: { name: string; version: number };
  input: string;
  detect: DetectMode;
}

export interface EvaluationSummary {
  evalId: string;
  model: { name: string; version: number };
  input: string;
  detect: DetectMode;
  rows: number;
  /** Rows with both images embedded: the pairs the metrics are measured on. */
  scored: number;
  errors: { total: number; byCode: ErrorCounts };
  metrics: HeadlineMetrics;
  /** The model's threshold (chosen on its own validation pairs) and how it does here. */
  threshold: { value: number; accuracy: number; tar: number; far: number };
  reportKey: string;
  htmlKey: string;
}

function locate(store: ObjectStore, input: string): { store: ObjectStore; key: string; uri: string } {
  if (input.startsWith('s3://')) {
    const loc = parseUri(input);
    if (loc.kind !== 's3' || !loc.key) throw badInput(`evaluation input ${input} must name an object (s3://bucket/key)`);
    return { store: storeForBucket(loc.bucket, store), key: loc.key, uri: input };
  }
  if (isUri(input)) throw badInput(`evaluation input ${input} must be an S3 key or s3:// URI (the CLI uploads local files)`);
  return { store, key: input, uri: store.uri(input) };
}

/** Reads the pairs file once: every row must be a labelled pair, and both classes must be present. */
export async function prepareEvaluation(store: ObjectStore, models: ModelCache, req: PrepareEvaluationInput, ctx: RunContext): Promise<PreparedEvaluation> {
  const detect = checkDetectMode(req.detect);
  const src = locate(store, req.input);
  const info = await src.store.head(src.key);
  if (!info) throw new SiamfaceError('not_found', `evaluation input ${src.uri} does not exist`);
  let format: BatchInputFormat | undefined;
  let columns: CsvColumns = DEFAULT_COLUMNS;
  let rows = 0;
  let genuine = 0;
  let impostor = 0;
  for await (const l of readRecords(await src.store.getStream(src.key), src.uri, (first) => formatOf(src.key, first))) {
    if (l.text.trim() === '') continue;
    if (!format) {
      format = formatOf(src.key, l.text);
      const h = format === 'csv' ? csvHeader(l.text) : null;
      if (h) {
        if (h.label === undefined) throw badInput(`evaluation input ${src.uri}: the header has no label column (expected a,b,label)`);
        columns = h;
        continue;
      }
    }
    const p = parseRow(l.text, format, columns);
    if ('error' in p) throw badInput(`evaluation input ${src.uri} line ${l.line}: ${p.error}`);
    if (p.label !== 0 && p.label !== 1) throw badInput(`evaluation input ${src.uri} line ${l.line}: every pair needs a label 0 (different) or 1 (same person) to evaluate`);
    rows++;
    if (p.label === 1) genuine++;
    else impostor++;
    if (rows % 10_000 === 0) {
      throwIfAborted(ctx.signal);
      ctx.report({ stage: 'prepare', rows });
    }
  }
  if (rows === 0) throw badInput(`evaluation input ${src.uri} has no pairs (expected CSV a,b,label or JSONL {"a","b","label"})`);
  if (genuine === 0 || impostor === 0) throw badInput(`evaluation input ${src.uri} has only ${genuine ? 'same-person' : 'different-person'} pairs (${rows}); ROC, EER and accuracy need both classes`);
  const model = await models.resolve(req.model);
  const card = await readModelCard(store, model.name, model.version);
  if (card.status !== 'ready') throw badInput(`model ${model.name} version ${model.version} is not ready (status ${card.status})`);
  const evalId = `eval-${createHash('sha256').update(JSON.stringify([model.name, model.version, src.uri, info.etag, detect])).digest('hex').slice(0, 16)}`;
  ctx.log('evaluation prepared', { evalId, rows, genuine, impostor, model: `${model.name}@${model.version}` });
  return { evalId, model, rows, genuine, impostor, detect };
}

/** Scores the job's results with the model's own validation-chosen threshold; writes the report. */
export async function scoreEvaluation(store: ObjectStore, req: ScoreEvaluationInput, ctx: RunContext): Promise<EvaluationSummary> {
  const prefix = evaluationPrefix(req.evalId);
  const existing = await store.getJsonIfExists<EvaluationSummary>(`${prefix}summary.json`);
  if (existing) return existing.value;
  const card = await readModelCard(store, req.model.name, req.model.version);
  const modelReport = await store.getJsonIfExists<EvalReport>(card.evaluation.reportKey);
  if (!modelReport?.value.distances?.val?.length) {
    throw badInput(`model ${req.model.name} v${req.model.version}: its evaluation report ${store.uri(card.evaluation.reportKey)} has no validation distances to take the threshold from`);
  }
  const results = parseResultLines((await store.getBuffer(resultsKey(req.evalId))).toString('utf8'));
  const { rows, errors: byCode } = tallyRows(results);
  const test: ScoredPair[] = [];
  for (const r of results) if (!('error' in r) && (r.label === 0 || r.label === 1)) test.push({ a: r.a, b: r.b, label: r.label, distance: r.distance });
  throwIfAborted(ctx.signal);
  if (!test.some((p) => p.label === 1) || !test.some((p) => p.label === 0)) {
    throw badInput(`evaluation ${req.evalId}: after per-row errors (${JSON.stringify(byCode)}) ${test.length} scored pairs are left, not both classes; nothing to measure`);
  }
  const report = buildEvalReport(modelReport.value.distances.val, test, {
    targetFar: card.evaluation.farThreshold.targetFar,
    lineage: { run: card.parentRun, model: `${req.model.name}@${req.model.version}`, dataset: req.input },
  });
  const keys: EvalReportKeys = await writeEvalReportAt(store, prefix, report);
  const summary: EvaluationSummary = {
    evalId: req.evalId,
    model: req.model,
    input: req.input,
    detect: req.detect,
    rows,
    scored: test.length,
    errors: { total: errorTotal(byCode), byCode },
    metrics: report.metrics,
    threshold: { value: report.threshold.value, accuracy: report.test.accuracy, tar: report.test.tar, far: report.test.far },
    reportKey: keys.report,
    htmlKey: keys.html,
  };
  await store.putJson(`${prefix}summary.json`, summary);
  return summary;
}
