/** The batch job's shapes: its request, job.json, what the workflow keeps, and each step's result. Types only. */
import type { BatchInputFormat, CsvColumns } from './batch-input';
import type { ErrorCounts } from './row-tally';
import type { DetectMode, ModelRef } from './types';

export interface PrepareBatchJobInput {
  jobId: string;
  /** Key in the job store's bucket, or an s3:// URI. */
  input: string;
  model?: Partial<ModelRef>;
  chunkSize?: number;
  /** Relative image locations in the input resolve against this (folder path, s3:// or http(s):// prefix). */
  baseUri?: string;
  threshold?: number;
  detect?: DetectMode;
  /** Checked against the output policy now, so a refused output fails before any image is verified. */
  output?: string;
}

export interface BatchJob {
  schemaVersion: 1;
  jobId: string;
  input: { uri: string; etag: string; size: number; format: BatchInputFormat; header: boolean; columns: CsvColumns };
  baseUri?: string;
  /** Pinned when the job is prepared: every chunk uses this version. */
  model: { name: string; version: number };
  threshold?: number;
  detect: DetectMode;
  chunkSize: number;
  totalRows: number;
  malformedRows: number;
  chunks: number;
  /** chunkOffsets[i] is the byte where chunk i's first row starts; the last entry is the input's end. */
  chunkOffsets: number[];
  /** 1-based line of each chunk's first row (for messages). */
  chunkLines: number[];
  createdAt: string;
}

/** What the workflow keeps of a job (small: it goes into workflow history). */
export interface PreparedBatchJob {
  jobId: string;
  totalRows: number;
  chunks: number;
  chunkSize: number;
  malformedRows: number;
  model: { name: string; version: number };
  createdAt: string;
}

export interface ChunkSummary {
  chunkIndex: number;
  rows: number;
  verified: number;
  notVerified: number;
  errors: ErrorCounts;
  /** Images embedded by this call / taken from the job's cache (0 and 0 when the chunk existed). */
  imagesEmbedded: number;
  imagesCached: number;
  alreadyDone: boolean;
}

export interface BatchSummary {
  jobId: string;
  model: { name: string; version: number };
  rows: number;
  verified: number;
  notVerified: number;
  errors: { total: number; byCode: ErrorCounts };
  /** Rows with a label: accuracy of the decisions on them. */
  labelled: { rows: number; correct: number; accuracy: number | null };
  startedAt: string;
  finishedAt: string;
  durationSec: number;
  throughputPairsPerSec: number;
  resultsKey: string;
  output?: { results: string; summary: string };
}

export interface VerifyChunkInput {
  jobId: string;
  chunkIndex: number;
  /** Checked against the job (the workflow derives them from chunkSize). */
  startRow?: number;
  endRow?: number;
}

export interface FinalizeBatchJobInput {
  jobId: string;
  /** Also copy results.jsonl and summary.json under this s3:// prefix. */
  output?: string;
}
