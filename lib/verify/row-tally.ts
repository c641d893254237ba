/** Counts over batch result rows (verified, not verified, errors by code, labelled decisions): one tally for chunks, jobs, evaluations and the batch workflow. */
import type { BatchCounters } from './batch-status';
import type { BatchErrorCode, BatchResultRow } from './types';

export type ErrorCounts = Partial<Record<BatchErrorCode, number>>;

export interface RowTally {
  rows: number;
  verified: number;
  notVerified: number;
  errors: ErrorCounts;
  /** Rows decided that carry a label, and those whose decision matches it. */
  labelled: number;
  correct: number;
}

export function emptyTally(): RowTally {
  return { rows: 0, verified: 0, notVerified: 0, errors: {}, labelled: 0, correct: 0 };
}

/** Adds one row to `tally` (streams count row by row). */
export function countRow(tally: RowTally, r: BatchResultRow): void {
  tally.rows++;
  if ('error' in r) {
    tally.errors[r.error.code] = (tally.errors[r.error.code] ?? 0) + 1;
    return;
  }
  if (r.verified) tally.verified++;
  else tally.notVerified++;
  if (r.label !== undefined) {
    tally.labelled++;
    if ((r.label === 1) === r.verified) tally.correct++;
  }
}

export function tallyRows(rows: Iterable<BatchResultRow>): RowTally {
  const tally = emptyTally();
  for (const r of rows) countRow(tally, r);
  return tally;
}

export function errorTotal(errors: ErrorCounts): number {
  return Object.values(errors).reduce((a: number, b) => a + (b ?? 0), 0);
}

/** What a chunk reports of its rows (labelled decisions are counted once, over the whole job). */
export type ChunkCounts = Pick<RowTally, 'rows' | 'verified' | 'notVerified' | 'errors'>;

/** Adds one finished chunk to the batch workflow's running counters (pure: workflow code calls it). */
export function addChunkCounts(counters: BatchCounters, chunk: ChunkCounts & { imagesEmbedded?: number; imagesCached?: number }): void {
  counters.chunksDone++;
  // `?? 0`: counters carried by a job started before these fields existed.
  counters.imagesEmbedded = (counters.imagesEmbedded ?? 0) + (chunk.imagesEmbedded ?? 0);
  counters.imagesCached = (counters.imagesCached ?? 0) + (chunk.imagesCached ?? 0);
  counters.pairsDone += chunk.rows;
  counters.verified += chunk.verified;
  counters.notVerified += chunk.notVerified;
  for (const [code, n] of Object.entries(chunk.errors) as Array<[BatchErrorCode, number | undefined]>) {
    counters.errors += n ?? 0;
    counters.errorsByCode[code] = (counters.errorsByCode[code] ?? 0) + (n ?? 0);
  }
}
