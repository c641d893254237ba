/** The batchVerify workflow's input, status and result (pure types and helpers: the workflow imports this). */
import type { BatchErrorCode, DetectMode, ModelRef } from './types';

export interface BatchVerifyInput {
  jobId: string;
  /** S3 key (in the workers' bucket) or s3:// URI of the pairs: CSV `a,b[,label]` or JSONL {a, b}. */
  input: string;
  model?: Partial<ModelRef>;
  /** Rows per verifyChunk activity (default 200). */
  chunkSize?: number;
  /** Chunks running at once (default 4). */
  concurrency?: number;
  /** Continue-as-new after this many chunks, so history stays small for millions of pairs (default 50). */
  continueAsNewEveryChunks?: number;
  /** Also copy results.jsonl and summary.json under this s3:// prefix. */
  output?: string;
  /** Relative image locations in the input resolve against this (worker-local folder, s3:// or http(s):// prefix). */
  baseUri?: string;
  threshold?: number;
  detect?: DetectMode;
  /** Heartbeat timeout of a chunk (default 120 s): how soon a dead worker's chunk is retried elsewhere. */
  chunkHeartbeatTimeoutSeconds?: number;
  taskQueue?: string;
}

export interface BatchCounters {
  pairsDone: number;
  verified: number;
  notVerified: number;
  errors: number;
  errorsByCode: Partial<Record<BatchErrorCode, number>>;
  chunksDone: number;
  /** Images embedded by the job's chunks / taken from its embedding cache (a chunk retried after a crash counts again). */
  imagesEmbedded: number;
  imagesCached: number;
}

/** Carried across continue-as-new: all chunks below `nextChunk` are done and counted. */
export interface BatchCarry {
  prepared: { totalRows: number; chunks: number; chunkSize: number; malformedRows: number; model: { name: string; version: number }; createdAt: string };
  nextChunk: number;
  counters: BatchCounters;
  startedAtMs: number;
  continuedAsNew: number;
}

export interface BatchVerifyStatus extends BatchCounters {
  jobId: string;
  state: 'preparing' | 'running' | 'finalizing' | 'done' | 'failed';
  total: number | null;
  chunks: number | null;
  model: { name: string; version: number } | null;
  /** Pairs per second since the job started. */
  throughput: number;
  etaSec: number | null;
  runningChunks: number[];
  continuedAsNew: number;
  resultsKey?: string;
  summaryKey?: string;
}

export function emptyCounters(): BatchCounters {
  return { pairsDone: 0, verified: 0, notVerified: 0, errors: 0, errorsByCode: {}, chunksDone: 0, imagesEmbedded: 0, imagesCached: 0 };
}
