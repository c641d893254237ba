/**
 * finalizeBatchJob, the batch job's last step: concatenates the chunks in order into results.jsonl (streamed
 * multipart upload), checking that rows run 0..N-1 without gaps or repeats before the upload completes, and writes
 * summary.json (and copies both under the job's output prefix when it has one).
 */
import { Readable } from 'node:stream';
import type { ObjectStore } from '../storage/object-store';
import { storeForBucket } from '../storage/open-location';
import { inputPolicyFromEnv, type InputPolicy } from '../security/input-policy';
import { SiamfaceError } from '../errors';
import type { RunContext } from '../progress';
import { throwIfAborted } from '../progress';
import { chunkKey, checkJobId, resultsKey, summaryKey } from './job-layout';
import { readBatchJob } from './batch-prepare';
import { parseResultLines } from './batch-results';
import { checkOutputPrefix, claimOutputPrefix } from './batch-output';
import type { BatchSummary, FinalizeBatchJobInput } from './batch-types';
import { countRow, emptyTally, errorTotal } from './row-tally';

export async function finalizeBatchJob(store: ObjectStore, req: FinalizeBatchJobInput, ctx: RunContext, policy: InputPolicy = inputPolicyFromEnv()): Promise<BatchSummary> {
  const job = await readBatchJob(store, checkJobId(req.jobId));
  const counts = emptyTally();
  let expectedRow = 0;

  // Streams chunk after chunk. Each chunk's rows are checked to be exactly its share of the input (rows start..end-1,
  // in order, once) before its bytes reach the upload, and the total before the stream ends, so a results.jsonl
  // that is not one line per input row is never stored (the failed stream aborts the upload).
  async function* lines(): AsyncGenerator<Buffer> {
    for (let i = 0; i < job.chunks; i++) {
      throwIfAborted(ctx.signal);
      const text = (await store.getBuffer(chunkKey(job.jobId, i))).toString('utf8');
      const endRow = Math.min(job.totalRows, (i + 1) * job.chunkSize);
      for (const r of parseResultLines(text)) {
        if (r.row !== expectedRow || r.row >= endRow) throw new SiamfaceError('bad_input', `job ${job.jobId}: chunk ${i} has row ${r.row} where ${expectedRow < endRow ? `row ${expectedRow}` : 'no more rows'} was expected`, { permanent: true });
        expectedRow++;
        countRow(counts, r);
      }
      if (expectedRow !== endRow) throw new SiamfaceError('bad_input', `job ${job.jobId}: chunk ${i} ends at row ${expectedRow - 1}, expected row ${endRow - 1}`, { permanent: true });
      yield Buffer.from(text.endsWith('\n') ? text : `${text}\n`);
      ctx.report({ stage: 'finalize', chunks: i + 1, of: job.chunks, rows: counts.rows });
    }
    if (counts.rows !== job.totalRows) throw new SiamfaceError('bad_input', `job ${job.jobId}: results have ${counts.rows} rows, the input has ${job.totalRows}`, { permanent: true });
  }
  await store.upload(resultsKey(job.jobId), Readable.from(lines()), { contentType: 'application/x-ndjson' });

  const finished = new Date();
  const durationSec = Math.max(1e-3, (finished.getTime() - Date.parse(job.createdAt)) / 1000);
  const summary: BatchSummary = {
    jobId: job.jobId,
    model: job.model,
    rows: counts.rows,
    verified: counts.verified,
    notVerified: counts.notVerified,
    errors: { total: errorTotal(counts.errors), byCode: counts.errors },
    labelled: { rows: counts.labelled, correct: counts.correct, accuracy: counts.labelled ? counts.correct / counts.labelled : null },
    startedAt: job.createdAt,
    finishedAt: finished.toISOString(),
    durationSec,
    throughputPairsPerSec: counts.rows / durationSec,
    resultsKey: resultsKey(job.jobId),
  };
  if (req.output) {
    const out = checkOutputPrefix(store, policy, req.output);
    const outStore = storeForBucket(out.bucket, store);
    await claimOutputPrefix(outStore, out.key, job.jobId);
    const results = `${out.key}results.jsonl`;
    const summaryOut = `${out.key}summary.json`;
    await outStore.upload(results, await store.getStream(resultsKey(job.jobId)), { contentType: 'application/x-ndjson' });
    summary.output = { results: outStore.uri(results), summary: outStore.uri(summaryOut) };
    await outStore.putJson(summaryOut, summary);
  }
  await store.putJson(summaryKey(job.jobId), summary);
  return summary;
}
