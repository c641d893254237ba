/**
 * verifyChunk, one chunk of a batch job: reads only its byte range, embeds each unique image once
 * (JobEmbeddingCache), scores the pairs and writes `jobs/<job>/chunks/<n>.jsonl` with ONE put when complete, so a
 * killed worker never leaves a partial chunk, and a chunk already written is returned as it is.
 * One image's failure of any kind (refused, missing, unreachable, too slow, undecodable, faceless) is its rows' error;
 * only failures of the job itself (its input, its objects, the model, the store) fail a chunk, which is then retried.
 */
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { ObjectStore } from '../storage/object-store';
import { displayLocation } from '../storage/open-location';
import { inputPolicyFromEnv, type InputPolicy } from '../security/input-policy';
import { badInput, SiamfaceError } from '../errors';
import type { RunContext } from '../progress';
import { throwIfAborted } from '../progress';
import { euclideanDistanceOf } from '../model/distance';
import type { ModelCache } from './model-cache';
import { parseRow, readRecords } from './batch-input';
import { chunkKey, checkJobId, jobJsonKey } from './job-layout';
import { JobEmbeddingCache, mapLimit, type CachedEmbedding } from './embedding-cache';
import { ImageError, prepareImage, readImageBytes, resolveAgainst } from './prepare-image';
import { decide, embedPrepared } from './verify-pair';
import { inputLocation, readBatchJob } from './batch-prepare';
import { formatResultLines, parseResultLines } from './batch-results';
import type { BatchJob, ChunkSummary, VerifyChunkInput } from './batch-types';
import type { BatchResultRow } from './types';
import { tallyRows, type ChunkCounts } from './row-tally';

export function summarizeRows(rows: BatchResultRow[]): ChunkCounts {
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
  const embeddings = new Map<string, CachedEmbedding>();
  let embedded = 0;
  // Decoding, detection and alignment of one batch run while the engine embeds the previous one: libvips and ONNX
  // Runtime both work off the event loop, so the two overlap instead of taking turns.
  const prepareBatch = async (part: string[]): Promise<{ prepared: Array<{ loc: string; rgb: Buffer }>; failed: Array<[string, CachedEmbedding]> }> => {
    const prepared: Array<{ loc: string; rgb: Buffer }> = [];
    const failed: Array<[string, CachedEmbedding]> = [];
    // Four at a time: libvips decodes on its own threads while ONNX Runtime holds the event loop; face detection
    // serialises on tfjs anyway (batch-bench, 2 cores: 25.0 s with two, 23.9 s with four).
    await mapLimit(part, 4, async (loc) => {
      throwIfAborted(ctx.signal);
      try {
        const data = await readImageBytes(loc, { store, policy });
        const img = await prepareImage(data, { prep: model.prep, detect: job.detect, name: loc });
        prepared.push({ loc, rgb: img.rgb });
      } catch (err) {
        if (!(err instanceof ImageError)) throw err; // transient or a bug: the chunk is retried
        failed.push([loc, { error: { code: err.imageCode, message: err.message } }]);
      }
    });
    return { prepared, failed };
  };
  const embedAll = async (locations: string[]) => {
    const batches: string[][] = [];
    for (let k = 0; k < locations.length; k += EMBED_BATCH) batches.push(locations.slice(k, k + EMBED_BATCH));
    let next = batches.length ? prepareBatch(batches[0]) : undefined;
    let storing: Promise<void> | undefined;
    try {
      for (let b = 0; b < batches.length; b++) {
        const { prepared, failed } = await next!;
        next = b + 1 < batches.length ? prepareBatch(batches[b + 1]) : undefined;
        // Awaited at the next turn or settled below; until then its failure must not count as unhandled.
        next?.catch(() => undefined);
        throwIfAborted(ctx.signal);
        const fresh = [...failed];
        if (prepared.length) {
          const vectors = await embedPrepared(model, prepared.map((p) => p.rgb));
          prepared.forEach((p, j) => fresh.push([p.loc, { embedding: vectors[j] }]));
        }
        // Stored while the next batch is embedded (one store in flight); its failure fails the chunk below.
        await storing;
        storing = cache.putMany(fresh);
        storing.catch(() => undefined);
        for (const [loc, e] of fresh) embeddings.set(loc, e);
        embedded += fresh.length;
        ctx.report({ jobId: job.jobId, chunkIndex: i, imagesDone: embeddings.size, images: unique.length, rows: rows.length });
      }
      await storing;
    } catch (err) {
      // No read or write of this attempt keeps running after it has failed.
      await Promise.all([next?.catch(() => undefined), storing?.catch(() => undefined)]);
      throw err;
    }
  };
  // Cached images, then this chunk's own; images another chunk of this worker is embedding are awaited, and taken
  // over if that chunk fails.
  let todo = unique;
  while (todo.length) {
    const claim = await cache.claim(todo);
    try {
      for (const [loc, e] of claim.found) embeddings.set(loc, e);
      await embedAll(claim.mine);
    } finally {
      cache.release(claim.mine);
    }
    todo = [];
    for (const [loc, pending] of claim.waiting) {
      const e = await pending;
      if (e) embeddings.set(loc, e);
      else todo.push(loc);
    }
  }
  const cached = unique.length - embedded;

  // --- score and write once -------------------------------------------------------------------------
  const results: BatchResultRow[] = rows.map((r) => scoreRow(r, embeddings, locate, model, job.threshold));
  await store.putObject(outKey, formatResultLines(results), { contentType: 'application/x-ndjson' });
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
