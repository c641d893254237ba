/**
 * prepareBatchJob, the batch job's first step: reads the input once (validating rows, counting them, noting the
 * byte offset where each chunk starts), pins the model version, writes `jobs/<job>/job.json`.
 */
import type { ObjectStore } from '../storage/object-store';
import { displayLocation, storeForBucket } from '../storage/open-location';
import { isUri, parseUri } from '../storage/uri';
import { inputPolicyFromEnv, type InputPolicy } from '../security/input-policy';
import { checkS3Read } from '../security/s3-scope';
import { badInput, SiamfaceError } from '../errors';
import type { RunContext } from '../progress';
import { throwIfAborted } from '../progress';
import { readModelCard } from '../registry/versions';
import type { ModelCache } from './model-cache';
import { checkDetectMode } from './detection-policy';
import { csvHeader, DEFAULT_COLUMNS, formatOf, parseRow, readRecords, type BatchInputFormat, type CsvColumns } from './batch-input';
import { checkJobId, jobJsonKey } from './job-layout';
import { checkThreshold } from './verify-pair';
import { checkOutputPrefix } from './batch-output';
import type { BatchJob, PrepareBatchJobInput, PreparedBatchJob } from './batch-types';
import type { DetectMode, ModelRef } from './types';

const MAX_CHUNK_SIZE = 10_000;

function checkChunkSize(n: unknown): number {
  if (n === undefined) return 200;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CHUNK_SIZE) throw badInput(`chunkSize must be an integer 1-${MAX_CHUNK_SIZE}, got ${JSON.stringify(n)}`);
  return n;
}

/** The store and key of a job input given as a key in `store`'s bucket or an s3:// URI the policy lets workers read. */
export function inputLocation(store: ObjectStore, input: string, policy: InputPolicy): { store: ObjectStore; key: string; uri: string } {
  if (input.startsWith('s3://')) {
    const loc = parseUri(input);
    if (loc.kind !== 's3' || !loc.key) throw badInput(`job input ${input} must name an object (s3://bucket/key)`);
    checkS3Read(policy, store.bucket, loc.bucket, loc.key, 'job input');
    return { store: storeForBucket(loc.bucket, store), key: loc.key, uri: input };
  }
  checkS3Read(policy, store.bucket, store.bucket, input, 'job input');
  if (isUri(input)) throw badInput(`job input ${input} must be an S3 key or s3:// URI (the CLI uploads local files)`);
  return { store, key: input, uri: store.uri(input) };
}

export async function readBatchJob(store: ObjectStore, jobId: string): Promise<BatchJob> {
  return store.getJson<BatchJob>(jobJsonKey(jobId));
}

function preparedOf(job: BatchJob): PreparedBatchJob {
  return { jobId: job.jobId, totalRows: job.totalRows, chunks: job.chunks, chunkSize: job.chunkSize, malformedRows: job.malformedRows, model: job.model, createdAt: job.createdAt };
}

/**
 * A job id started again resumes the job it names: its finished chunks and cached embeddings were made with its
 * model, threshold, detect mode and base location, so a request that changes one of them is refused (naming what
 * changed) rather than mixing two configurations in one results file or silently ignoring the change; a batch user
 * who wants the new settings starts a new job id. A model given by name only resumes with the pinned version, even
 * after a promotion (pinning is what makes a resumed job's rows comparable). chunkSize is kept from the first
 * preparation: it changes how rows are grouped, not what they say.
 */
function sameSettings(job: BatchJob, req: { model?: Partial<ModelRef>; threshold?: number; detect: DetectMode; baseUri?: string }): BatchJob {
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  const changed: string[] = [];
  if (req.model?.name !== undefined && req.model.name !== job.model.name) changed.push(`model ${show(req.model.name)} (the job uses ${show(job.model.name)})`);
  if (req.model?.version !== undefined && req.model.version !== job.model.version) changed.push(`model version ${req.model.version} (the job pinned ${job.model.version})`);
  if (req.threshold !== job.threshold) changed.push(`threshold ${show(req.threshold)} (the job has ${show(job.threshold)})`);
  if (req.detect !== job.detect) changed.push(`detect ${show(req.detect)} (the job has ${show(job.detect)})`);
  if (req.baseUri !== job.baseUri) changed.push(`baseUri ${show(req.baseUri && displayLocation(req.baseUri))} (the job has ${show(job.baseUri && displayLocation(job.baseUri))})`);
  if (changed.length) throw badInput(`job ${job.jobId} was prepared with other settings; this request changes ${changed.join(', ')}; use a new job id for new settings`, { changed: changed.length });
  return job;
}

export async function prepareBatchJob(store: ObjectStore, models: ModelCache, req: PrepareBatchJobInput, ctx: RunContext, policy: InputPolicy = inputPolicyFromEnv()): Promise<PreparedBatchJob> {
  const jobId = checkJobId(req.jobId);
  const chunkSize = checkChunkSize(req.chunkSize);
  const detect = checkDetectMode(req.detect);
  const threshold = checkThreshold(req.threshold);
  const src = inputLocation(store, req.input, policy);
  if (req.output !== undefined) checkOutputPrefix(store, policy, req.output);
  const info = await src.store.head(src.key);
  if (!info) throw new SiamfaceError('not_found', `job ${jobId}: input ${src.uri} does not exist`);

  const requested = { model: req.model, threshold, detect, baseUri: req.baseUri || undefined };
  // Idempotent: the same job over the same input object is prepared once (the model stays pinned).
  const existing = await store.getJsonIfExists<BatchJob>(jobJsonKey(jobId));
  if (existing) {
    if (existing.value.input.uri === src.uri && existing.value.input.etag === info.etag) return preparedOf(sameSettings(existing.value, requested));
    throw badInput(`job ${jobId} already exists for input ${existing.value.input.uri} (etag ${existing.value.input.etag}); use a new job id`);
  }

  const ref = await models.resolve(req.model);
  const card = await readModelCard(store, ref.name, ref.version);
  if (card.status !== 'ready') throw badInput(`model ${ref.name} version ${ref.version} is not ready (status ${card.status})`);

  let format: BatchInputFormat | undefined;
  let columns: CsvColumns = DEFAULT_COLUMNS;
  let header = false;
  let rows = 0;
  let malformed = 0;
  let firstError = '';
  const chunkOffsets: number[] = [];
  const chunkLines: number[] = [];
  const stream = await src.store.getStream(src.key);
  for await (const l of readRecords(stream, src.uri, (first) => formatOf(src.key, first))) {
    if (l.text.trim() === '') continue;
    if (!format) {
      format = formatOf(src.key, l.text);
      const h = format === 'csv' ? csvHeader(l.text) : null;
      if (h) {
        header = true;
        columns = h;
        continue;
      }
    }
    if (rows % chunkSize === 0) {
      chunkOffsets.push(l.offset);
      chunkLines.push(l.line);
    }
    const parsed = parseRow(l.text, format, columns);
    if ('error' in parsed) {
      malformed++;
      firstError ||= `line ${l.line}: ${parsed.error}`;
    }
    rows++;
    if (rows % 10_000 === 0) {
      throwIfAborted(ctx.signal);
      ctx.report({ stage: 'prepare', rows });
    }
  }
  if (rows === 0) throw badInput(`job ${jobId}: input ${src.uri} has no pairs (expected CSV a,b[,label] or JSONL {"a","b"})`);
  if (malformed === rows) throw badInput(`job ${jobId}: input ${src.uri} is unreadable: none of its ${rows} lines is a pair (first problem: ${firstError})`);
  chunkOffsets.push(info.size);

  const job: BatchJob = {
    schemaVersion: 1,
    jobId,
    input: { uri: src.uri, etag: info.etag, size: info.size, format: format!, header, columns },
    ...(req.baseUri ? { baseUri: req.baseUri } : {}),
    model: ref,
    ...(threshold !== undefined ? { threshold } : {}),
    detect,
    chunkSize,
    totalRows: rows,
    malformedRows: malformed,
    chunks: chunkLines.length,
    chunkOffsets,
    chunkLines,
    createdAt: new Date().toISOString(),
  };
  try {
    await store.putJson(jobJsonKey(jobId), job, { ifNoneMatch: '*' });
  } catch (err) {
    // A concurrent attempt prepared it first: use theirs (same input, so the same rows).
    if (err instanceof SiamfaceError && err.code === 'precondition_failed') return preparedOf(sameSettings(await readBatchJob(store, jobId), requested));
    throw err;
  }
  ctx.log('batch job prepared', { jobId, rows, malformed, chunks: job.chunks, model: `${ref.name}@${ref.version}` });
  return preparedOf(job);
}
