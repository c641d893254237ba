/** Writes and reads the evaluation report under `runs/<run>/eval/`. */
import type { ObjectStore } from '../storage/object-store';
import { badInput } from '../errors';
import { checkRunId, evalPrefix } from '../train/run-layout';
import { renderReportHtml, reportPlots } from './report-html';
import type { EvalReport } from './types';

export type EvalReportStore = Pick<ObjectStore, 'putObject' | 'putJson' | 'getJson'>;

export const evalReportKey = (runId: string) => `${evalPrefix(runId)}report.json`;

export interface EvalReportKeys {
  report: string;
  html: string;
  roc: string;
  rocLog: string;
  histogram: string;
  reliability: string;
}

/**
 * Writes the plots and report.html first and report.json last: report.json present means the whole
 * evaluation output is complete (the evaluate stage skips work when it finds it).
 */
export async function writeEvalReport(store: EvalReportStore, runId: string, report: EvalReport): Promise<EvalReportKeys> {
  return writeEvalReportAt(store, evalPrefix(checkRunId(runId)), report);
}

/** The same files under any prefix (`siamface evaluate` writes under lib/eval/evaluation-layout's evaluationPrefix). */
export async function writeEvalReportAt(store: EvalReportStore, prefix: string, report: EvalReport): Promise<EvalReportKeys> {
  const plots = reportPlots(report);
  const keys: EvalReportKeys = {
    report: `${prefix}report.json`,
    html: `${prefix}report.html`,
    roc: `${prefix}roc.svg`,
    rocLog: `${prefix}roc-log.svg`,
    histogram: `${prefix}distance-histogram.svg`,
    reliability: `${prefix}reliability.svg`,
  };
  const svg = { contentType: 'image/svg+xml' };
  await store.putObject(keys.roc, plots.roc, svg);
  await store.putObject(keys.rocLog, plots.rocLog, svg);
  await store.putObject(keys.histogram, plots.histogram, svg);
  await store.putObject(keys.reliability, plots.reliability, svg);
  await store.putObject(keys.html, renderReportHtml(report, plots), { contentType: 'text/html; charset=utf-8' });
  await store.putJson(keys.report, report);
  return keys;
}

export async function readEvalReport(store: Pick<ObjectStore, 'getJson'>, runId: string): Promise<EvalReport> {
  const report = await store.getJson<EvalReport>(evalReportKey(runId));
  if (report.schemaVersion !== 1) throw badInput(`${evalReportKey(runId)}: unknown report schemaVersion ${String(report.schemaVersion)}`);
  return report;
}
