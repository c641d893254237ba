/**
 * batchVerify: verify every pair of an input file in S3. prepareBatchJob validates the input, counts
 * the rows and pins the model version; verifyChunk activities run with bounded concurrency, each
 * writing its chunk of results once; finalizeBatchJob joins them into results.jsonl + summary.json.
 * Every N chunks the workflow continues as new with its cursor and counters, so history stays small
 * for millions of pairs. Chunks are idempotent, so a killed worker or a retried chunk never duplicates
 * or drops a result row.
 */
import { ApplicationFailure, ContinueAsNew, continueAsNew, defineQuery, proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { CpuActivities } from '../activities';
import type { BatchSummary } from '../lib/verify/batch-types';
import { addChunkCounts } from '../lib/verify/row-tally';
import { emptyCounters, type BatchCarry, type BatchVerifyInput, type BatchVerifyStatus } from '../lib/verify/batch-status';
import { retryPolicy } from '../lib/pipeline/retry';
import { summaryKey } from '../lib/verify/job-layout';

export const batchStatusQuery = defineQuery<BatchVerifyStatus>('status');

function positiveInt(name: string, v: number | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1 || v > max) throw ApplicationFailure.nonRetryable(`batchVerify: ${name} must be an integer 1-${max}, got ${JSON.stringify(v)}`, 'bad_input');
  return v;
}

export async function batchVerify(input: BatchVerifyInput, carry?: BatchCarry): Promise<BatchSummary> {
  if (!input || typeof input.jobId !== 'string' || typeof input.input !== 'string') {
    throw ApplicationFailure.nonRetryable('batchVerify: jobId and input (S3 key or s3:// URI of the pairs) are required', 'bad_input');
  }
  const concurrency = positiveInt('concurrency', input.concurrency, 4, 256);
  const every = positiveInt('continueAsNewEveryChunks', input.continueAsNewEveryChunks, 50, 100_000);
  const hb = positiveInt('chunkHeartbeatTimeoutSeconds', input.chunkHeartbeatTimeoutSeconds, 120, 3600);

  const status: BatchVerifyStatus = {
    jobId: input.jobId,
    state: carry ? 'running' : 'preparing',
    total: carry?.prepared.totalRows ?? null,
    chunks: carry?.prepared.chunks ?? null,
    model: carry?.prepared.model ?? null,
    ...(carry?.counters ?? emptyCounters()),
    throughput: 0,
    etaSec: null,
    runningChunks: [],
    continuedAsNew: carry?.continuedAsNew ?? 0,
  };
  const startedAtMs = carry?.startedAtMs ?? Date.now();
  const refreshRates = () => {
    const sec = Math.max(1e-3, (Date.now() - startedAtMs) / 1000);
    status.throughput = status.pairsDone / sec;
    status.etaSec = status.total !== null && status.throughput > 0 ? Math.round((status.total - status.pairsDone) / status.throughput) : null;
  };
  setHandler(batchStatusQuery, () => {
    refreshRates();
    return status;
  });

  // A bad image is the input's fault: retrying its chunk cannot decode it.
  const extraNonRetryable = ['bad_image'] as const;
  const queue = input.taskQueue ? { taskQueue: input.taskQueue } : {};
  const steps = proxyActivities<CpuActivities>({ ...queue, startToCloseTimeout: '2h', heartbeatTimeout: '2m', retry: retryPolicy({ maximumAttempts: 10, extraNonRetryable }) });
  const chunkActs = proxyActivities<CpuActivities>({ ...queue, startToCloseTimeout: '2h', heartbeatTimeout: `${hb}s`, retry: retryPolicy({ maximumAttempts: 20, extraNonRetryable }) });

  try {
    if (!carry) {
      upsertSearchAttributes({ SiamfaceStage: ['batch-prepare'] });
      const p = await steps.prepareBatchJob({
        jobId: input.jobId,
        input: input.input,
        model: input.model,
        chunkSize: input.chunkSize,
        baseUri: input.baseUri,
        threshold: input.threshold,
        detect: input.detect,
        ...(input.output !== undefined ? { output: input.output } : {}),
      });
      carry = {
        prepared: { totalRows: p.totalRows, chunks: p.chunks, chunkSize: p.chunkSize, malformedRows: p.malformedRows, model: p.model, createdAt: p.createdAt },
        nextChunk: 0,
        counters: emptyCounters(),
        startedAtMs,
        continuedAsNew: 0,
      };
      Object.assign(status, { total: p.totalRows, chunks: p.chunks, model: p.model });
    }
    const job = carry.prepared;
    status.state = 'running';
    upsertSearchAttributes({ SiamfaceStage: ['batch-running'], SiamfaceModel: [job.model.name] });

    const segmentEnd = Math.min(job.chunks, carry.nextChunk + every);
    let next = carry.nextChunk;
    const runner = async () => {
      while (next < segmentEnd) {
        const i = next++;
        status.runningChunks.push(i);
        const startRow = i * job.chunkSize;
        const summary = await chunkActs.verifyChunk({ jobId: input.jobId, chunkIndex: i, startRow, endRow: Math.min(job.totalRows, startRow + job.chunkSize) });
        status.runningChunks = status.runningChunks.filter((c) => c !== i);
        addChunkCounts(status, summary);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, segmentEnd - carry.nextChunk) }, runner));

    if (segmentEnd < job.chunks) {
      const { pairsDone, verified, notVerified, errors, errorsByCode, chunksDone, imagesEmbedded, imagesCached } = status;
      await continueAsNew<typeof batchVerify>(input, {
        ...carry,
        nextChunk: segmentEnd,
        counters: { pairsDone, verified, notVerified, errors, errorsByCode, chunksDone, imagesEmbedded, imagesCached },
        continuedAsNew: carry.continuedAsNew + 1,
      });
    }

    status.state = 'finalizing';
    upsertSearchAttributes({ SiamfaceStage: ['batch-finalize'] });
    const summary = await steps.finalizeBatchJob({ jobId: input.jobId, output: input.output });
    status.state = 'done';
    status.resultsKey = summary.resultsKey;
    status.summaryKey = summaryKey(input.jobId);
    upsertSearchAttributes({ SiamfaceStage: ['batch-done'] });
    return summary;
  } catch (err) {
    if (!(err instanceof ContinueAsNew)) status.state = 'failed';
    throw err;
  }
}
