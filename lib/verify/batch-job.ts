/**
 * Batch verification, the three steps the batchVerify workflow runs:
 * - prepareBatchJob: reads the input once (validating rows, counting them, noting the byte offset
 *   where each chunk starts), pins the model version, writes `jobs/<job>/job.json`.
 * - verifyChunk: reads only its byte range, embeds each unique image once (JobEmbeddingCache),
 *   scores the pairs and writes `jobs/<job>/chunks/<n>.jsonl` with ONE put when complete, so a killed
 *   worker never leaves a partial chunk, and a chunk already written is returned as it is.
 * - finalizeBatchJob: concatenates the chunks in order into results.jsonl (streamed multipart
 *   upload), checking that rows run 0..N-1 without gaps or repeats before the upload completes, and writes summary.json.
 * One image's failure of any kind (refused, missing, unreachable, too slow, undecodable, faceless) is its rows' error;
 * only failures of the job itself (its input, its objects, the model, the store) fail a chunk, which is then retried.
 */
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { ObjectStore } from '../storage/object-store';
import { displayLocation, storeForBucket } from '../storage/open-location';
import { parseUri } from '../storage/uri';
import { inputPolicyFromEnv, type InputPolicy } from '../security/input-policy';
import { checkS3Output, checkS3Read } from '../security/s3-scope';
import { badInput, SiamfaceError } from '../errors';
import type { RunContext } from '../progress';
import { throwIfAborted } from '../progress';
import { euclideanDistanceOf } from '../model/distance';
import { readModelCard } from '../registry/versions';
import type { ModelCache } from './model-cache';
import { checkDetectMode } from './detection-policy';
import { csvHeader, DEFAULT_COLUMNS, formatOf, parseRow, readRecords, type BatchInputFormat, type CsvColumns } from './batch-input';
import { chunkKey, checkJobId, jobJsonKey, resultsKey, summaryKey } from './job-layout';
import { JobEmbeddingCache, mapLimit, type CachedEmbedding } from './embedding-cache';
import { ImageError, prepareImage, readImageBytes, resolveAgainst } from './prepare-image';
import { checkThreshold, decide, embedPrepared } from './verify-pair';
import type { BatchResultRow, DetectMode, ModelRef } from './types';
import { countRow, emptyTally, errorTotal, tallyRows, type ErrorCounts } from './row-tally';

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

const MAX_CHUNK_SIZE = 10_000;

function checkChunkSize(n: unknown): number {
  if (n === undefined) return 200;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CHUNK_SIZE) throw badInput(`chunkSize must be an integer 1-${MAX_CHUNK_SIZE}, got ${JSON.stringify(n)}`);
  return n;
}

/** The store and key of a job input given as a key in `store`'s bucket or an s3:// URI the policy lets workers read. */
function inputLocation(store: ObjectStore, input: string, policy: InputPolicy): { store: ObjectStore; key: string; uri: string } {
  if (input.startsWith('s3://')) {
    const loc = parseUri(input);
    if (loc.kind !== 's3' || !loc.key) throw badInput(`job input ${input} must name an object (s3://bucket/key)`);
    checkS3Read(policy, store.bucket, loc.bucket, loc.key, 'job input');
    return { store: storeForBucket(loc.bucket, store), key: loc.key, uri: input };
  }
  checkS3Read(policy, store.bucket, store.bucket, input, 'job input');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) throw badInput(`job input ${input} must be an S3 key or s3:// URI (the CLI uploads local files)`);
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

export interface VerifyChunkInput {
  jobId: string;
  chunkIndex: number;
  /** Checked against the job (the workflow derives them from chunkSize). */
  startRow?: number;
  endRow?: number;
}

export function summarizeRows(rows: BatchResultRow[]): Pick<ChunkSummary, 'rows' | 'verified' | 'notVerified' | 'errors'> {
  const { rows: n, verified, notVerified, errors } = tallyRows(rows);
  return { rows: n, verified, notVerified, errors };
}

/** Each worker reads a job's job.json once, for its 100 most recently used jobs. */
const jobCache = new LRUCache<string, BatchJob>({ max: 100 });

async function cachedJob(store: ObjectStore, jobId: string): Promise<BatchJob> {
  const key = store.uri(jobJsonKey(jobId));
  let job = jobCache.get(key);
  if (!job) {
    job = await readBatchJob(store, jobId);
    jobCache.set(key, job);
  }
  return job;
}

/** Embedding batch size (images per engine call). */
const EMBED_BATCH = 16;

export async function verifyChunk(store: ObjectStore, models: ModelCache, req: VerifyChunkInput, ctx: RunContext, policy: InputPolicy = inputPolicyFromEnv()): Promise<ChunkSummary> {
  const job = await cachedJob(store, checkJobId(req.jobId));
  const i = req.chunkIndex;
  if (!Number.isInteger(i) || i < 0 || i >= job.chunks) throw badInput(`job ${job.jobId} has chunks 0-${job.chunks - 1}, not ${i}`);
  const startRow = i * job.chunkSize;
  const endRow = Math.min(job.totalRows, startRow + job.chunkSize);
  if ((req.startRow !== undefined && req.startRow !== startRow) || (req.endRow !== undefined && req.endRow !== endRow)) {
    throw badInput(`job ${job.jobId} chunk ${i} holds rows ${startRow}-${endRow - 1}, not ${req.startRow}-${(req.endRow ?? 0) - 1}`);
  }
  const outKey = chunkKey(job.jobId, i);
  if (await store.exists(outKey)) {
    const rows = parseResultLines((await store.getBuffer(outKey)).toString('utf8'));
    return { chunkIndex: i, ...summarizeRows(rows), imagesEmbedded: 0, imagesCached: 0, alreadyDone: true };
  }

  // --- this chunk's rows ------------------------------------------------------------------------
  const src = inputLocation(store, job.input.uri, policy);
  const from = job.chunkOffsets[i];
  const length = job.chunkOffsets[i + 1] - from;
  const bytes = length > 0 ? await src.store.getRange(src.key, from, length) : Buffer.alloc(0);
  type Row = { row: number; a?: string; b?: string; label?: number; error?: string };
  const rows: Row[] = [];
  for await (const l of readRecords(Readable.from([bytes]), src.uri, () => job.input.format, from, job.chunkLines[i])) {
    if (l.text.trim() === '') continue;
    const p = parseRow(l.text, job.input.format, job.input.columns);
    rows.push({ row: startRow + rows.length, ...('error' in p ? { error: `line ${l.line}: ${p.error}` } : p) });
  }
  if (rows.length !== endRow - startRow) {
    throw new SiamfaceError('bad_input', `job ${job.jobId} chunk ${i}: found ${rows.length} rows in bytes ${from}-${from + length} of ${src.uri}, expected ${endRow - startRow}; did the input change?`);
  }

  // --- embeddings: each unique image once per job ------------------------------------------------
  const model = await models.get(job.model);
  const locate = (s: string) => resolveAgainst(s, job.baseUri);
  const unique = [...new Set(rows.flatMap((r) => (r.error ? [] : [locate(r.a!), locate(r.b!)])))];
  const cache = new JobEmbeddingCache(store, job.jobId);
  const embeddings = await cache.getMany(unique);
  const cached = embeddings.size;
  const missing = unique.filter((loc) => !embeddings.has(loc));
  let embedded = 0;
  for (let k = 0; k < missing.length; k += EMBED_BATCH) {
    throwIfAborted(ctx.signal);
    const part = missing.slice(k, k + EMBED_BATCH);
    const prepared: Array<{ loc: string; rgb: Buffer }> = [];
    const fresh: Array<[string, CachedEmbedding]> = [];
    // Two at a time: libvips decodes on its own threads; face detection serialises on tfjs anyway.
    await mapLimit(part, 2, async (loc) => {
      try {
        const data = await readImageBytes(loc, { store, policy });
        const img = await prepareImage(data, { prep: model.prep, detect: job.detect, name: loc });
        prepared.push({ loc, rgb: img.rgb });
      } catch (err) {
        if (!(err instanceof ImageError)) throw err; // transient or a bug: the chunk is retried
        fresh.push([loc, { error: { code: err.imageCode, message: err.message } }]);
      }
    });
    if (prepared.length) {
      const vectors = await embedPrepared(model, prepared.map((p) => p.rgb));
      prepared.forEach((p, j) => fresh.push([p.loc, { embedding: vectors[j] }]));
    }
    await cache.putMany(fresh);
    for (const [loc, e] of fresh) embeddings.set(loc, e);
    embedded += fresh.length;
    ctx.report({ jobId: job.jobId, chunkIndex: i, imagesDone: cached + embedded, images: unique.length, rows: rows.length });
  }

  // --- score and write once -------------------------------------------------------------------------
  const results: BatchResultRow[] = rows.map((r) => scoreRow(r, embeddings, locate, model, job.threshold));
  await store.putObject(outKey, results.map((r) => JSON.stringify(r)).join('\n') + '\n', { contentType: 'application/x-ndjson' });
  ctx.report({ jobId: job.jobId, chunkIndex: i, imagesDone: unique.length, images: unique.length, rowsDone: rows.length, rows: rows.length });
  return { chunkIndex: i, ...summarizeRows(results), imagesEmbedded: embedded, imagesCached: cached, alreadyDone: false };
}

function scoreRow(
  r: { row: number; a?: string; b?: string; label?: number; error?: string },
  embeddings: Map<string, CachedEmbedding>,
  locate: (s: string) => string,
  model: Parameters<typeof decide>[0],
  threshold: number | undefined,
): BatchResultRow {
  const label = r.label !== undefined ? { label: r.label } : {};
  if (r.error) return { row: r.row, error: { code: 'bad_row', message: r.error } };
  const ea = embeddings.get(locate(r.a!))!;
  const eb = embeddings.get(locate(r.b!))!;
  for (const [which, e] of [['a', ea], ['b', eb]] as const) {
    if ('error' in e) return { row: r.row, a: displayLocation(r.a!), b: displayLocation(r.b!), ...label, error: { code: e.error.code, message: e.error.message, image: which } };
  }
  const distance = euclideanDistanceOf((ea as { embedding: Float32Array }).embedding, (eb as { embedding: Float32Array }).embedding);
  const d = decide(model, distance, threshold);
  return { row: r.row, a: displayLocation(r.a!), b: displayLocation(r.b!), ...label, verified: d.verified, distance, confidence: d.confidence };
}

export function parseResultLines(text: string): BatchResultRow[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as BatchResultRow);
}

export interface FinalizeBatchJobInput {
  jobId: string;
  /** Also copy results.jsonl and summary.json under this s3:// prefix. */
  output?: string;
}

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

/** A batch output prefix the worker's policy lets it write (never its own datasets/, runs/, models/, jobs/, cache/). */
function checkOutputPrefix(store: ObjectStore, policy: InputPolicy, output: string): { bucket: string; key: string } {
  const out = parseUri(output.endsWith('/') ? output : `${output}/`);
  if (out.kind !== 's3') throw badInput(`output ${displayLocation(output)} must be an s3:// prefix`);
  checkS3Output(policy, store.bucket, out.bucket, out.key, 'batch output');
  return out;
}

/**
 * One output prefix belongs to one job: the first to write claims it (a conditional put), so another job's
 * results.jsonl is never overwritten; the same job's retry finds its own claim.
 */
async function claimOutputPrefix(outStore: ObjectStore, prefix: string, jobId: string): Promise<void> {
  const key = `${prefix}owner.json`;
  try {
    await outStore.putJson(key, { jobId }, { ifNoneMatch: '*' });
  } catch (err) {
    if (!(err instanceof SiamfaceError && err.code === 'precondition_failed')) throw err;
    const owner = await outStore.getJson<{ jobId?: string }>(key);
    if (owner.jobId !== jobId) throw new SiamfaceError('forbidden', `batch output ${outStore.uri(prefix)} is refused: it already holds the results of job ${owner.jobId}; choose another output prefix`, { details: { rule: 'output-owner' } });
  }
}
