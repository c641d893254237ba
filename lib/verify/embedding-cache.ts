/**
 * Per-job embedding cache: each unique image of a job is read, aligned and embedded once. An
 * in-process LRU serves repeats within a worker; `jobs/<job>/embeddings/<hash>.json` serves other
 * workers and retried chunks (a chunk killed half-way keeps the embeddings it already stored).
 * Per-image failures (not_found, bad_image, no_face, forbidden, fetch_failed, timeout) are cached too: a job's row
 * says the same whichever chunk attempt wrote it. Chunks of one job running at once in a worker share their work:
 * an image one of them is embedding is awaited by the others (`claim`), not embedded again.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ObjectStore } from '../storage/object-store';
import { embeddingsPrefix } from './job-layout';
import type { ImageErrorCode } from './types';
import { displayLocation } from '../storage/open-location';
import { redactSecrets } from '../redact';

export type CachedEmbedding = { embedding: Float32Array } | { error: { code: ImageErrorCode; message: string } };

interface StoredEmbedding {
  location: string;
  embedding?: number[];
  error?: { code: ImageErrorCode; message: string };
}

/** The worker's in-process layer, shared by all jobs (keys start with the job id). */
export type LocalEmbeddings = LRUCache<string, CachedEmbedding>;
const processLocal: LocalEmbeddings = new LRUCache({ max: 50_000 });

/** Images a chunk in this process is embedding now; settles with undefined when that chunk gave up on them. */
const inFlight = new Map<string, { promise: Promise<CachedEmbedding | undefined>; settle: (e: CachedEmbedding | undefined) => void }>();

export interface EmbeddingClaim {
  /** Cached already (in this process or in S3). */
  found: Map<string, CachedEmbedding>;
  /** Being embedded by another chunk in this process: undefined when it failed (embed it then). */
  waiting: Map<string, Promise<CachedEmbedding | undefined>>;
  /** This chunk's to embed: `putMany` them, then `release` whatever is left (on success or failure). */
  mine: string[];
}

export class JobEmbeddingCache {
  constructor(
    private readonly store: ObjectStore,
    private readonly jobId: string,
    private readonly local: LocalEmbeddings = processLocal,
  ) {}

  private key(location: string): string {
    return `${embeddingsPrefix(this.jobId)}${createHash('sha256').update(location).digest('hex').slice(0, 40)}.json`;
  }

  private localKey(location: string): string {
    return `${this.jobId}\u0000${location}`;
  }

  /**
   * Splits locations into cached, being embedded by another chunk in this process, and this chunk's own, which
   * other chunks then wait for. Call `release(mine)` when done (a finally block), or they wait for ever.
   */
  async claim(locations: string[]): Promise<EmbeddingClaim> {
    const waiting = new Map<string, Promise<CachedEmbedding | undefined>>();
    const rest: string[] = [];
    for (const loc of locations) {
      const other = inFlight.get(this.localKey(loc));
      if (other) waiting.set(loc, other.promise);
      else rest.push(loc);
    }
    for (const loc of rest) {
      let settle!: (e: CachedEmbedding | undefined) => void;
      const promise = new Promise<CachedEmbedding | undefined>((resolve) => (settle = resolve));
      inFlight.set(this.localKey(loc), { promise, settle });
    }
    let found: Map<string, CachedEmbedding>;
    try {
      found = await this.getMany(rest);
    } catch (err) {
      this.release(rest);
      throw err;
    }
    for (const [loc, entry] of found) this.settle(loc, entry);
    return { found, waiting, mine: rest.filter((loc) => !found.has(loc)) };
  }

  /** Ends this chunk's claim on locations it did not store (their waiters embed them themselves). */
  release(locations: string[]): void {
    for (const loc of locations) this.settle(loc, undefined);
  }

  private settle(loc: string, entry: CachedEmbedding | undefined): void {
    const key = this.localKey(loc);
    const claim = inFlight.get(key);
    if (!claim) return;
    inFlight.delete(key);
    claim.settle(entry);
  }

  /** Cached entries for the locations found (in-process first, then S3). */
  async getMany(locations: string[], concurrency = 8): Promise<Map<string, CachedEmbedding>> {
    const found = new Map<string, CachedEmbedding>();
    const remote: string[] = [];
    for (const loc of locations) {
      const hit = this.local.get(this.localKey(loc));
      if (hit) found.set(loc, hit);
      else remote.push(loc);
    }
    await mapLimit(remote, concurrency, async (loc) => {
      const got = await this.store.getJsonIfExists<StoredEmbedding>(this.key(loc));
      if (!got || got.value.location !== displayLocation(loc)) return;
      const entry: CachedEmbedding = got.value.embedding ? { embedding: Float32Array.from(got.value.embedding) } : { error: got.value.error! };
      this.remember(loc, entry);
      found.set(loc, entry);
    });
    return found;
  }

  async putMany(entries: Array<[string, CachedEmbedding]>, concurrency = 8): Promise<void> {
    // In memory first: chunks waiting for these images go on at once, not after the PUTs.
    for (const [loc, entry] of entries) {
      this.remember(loc, entry);
      this.settle(loc, entry);
    }
    await mapLimit(entries, concurrency, async ([loc, entry]) => {
      const stored: StoredEmbedding = 'embedding' in entry ? { location: displayLocation(loc), embedding: Array.from(entry.embedding) } : { location: displayLocation(loc), error: { ...entry.error, message: redactSecrets(entry.error.message) } };
      await this.store.putJson(this.key(loc), stored);
    });
  }

  private remember(loc: string, entry: CachedEmbedding): void {
    this.local.set(this.localKey(loc), entry);
  }
}

/** Runs fn over items with at most `limit` at once. */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}
