/** Writes `datasets/<id>/raw/` objects for fetchDataset: resumable (what is already there with the same size and MD5 is kept). */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { RunContext } from '../progress';
import { readAll, type ObjectStore } from '../storage/object-store';
import { md5Hex } from './identity-file';
import { limiter } from './pool';
import type { RawFile } from './raw-manifest';

/** Files above this are streamed twice (hash, then upload) instead of buffered. */
const BUFFER_LIMIT = 16 * 1024 * 1024;

/** Writes raw objects with bounded parallelism, skipping those already present with the same size and MD5. */
export class RawWriter {
  uploaded = 0;
  private files: RawFile[] = [];
  private bytes = 0;
  private pool;
  private constructor(
    private store: ObjectStore,
    private prefix: string,
    private ctx: RunContext,
    private existing: Map<string, { size: number; etag: string }>,
    concurrency: number,
  ) {
    this.pool = limiter(concurrency);
  }

  static async open(store: ObjectStore, prefix: string, ctx: RunContext, concurrency: number): Promise<RawWriter> {
    const existing = new Map<string, { size: number; etag: string }>();
    for await (const o of store.list(prefix)) existing.set(o.key, { size: o.size, etag: o.etag.replace(/"/g, '') });
    if (existing.size) ctx.log('resuming raw copy', { present: existing.size });
    return new RawWriter(store, prefix, ctx, existing, concurrency);
  }

  async put(relPath: string, data: Buffer): Promise<void> {
    await this.pool.start(() => this.putBuffer(relPath, data));
  }

  /** Small entries are read into memory (images); big ones are hashed in a first pass, then streamed. */
  async putEntry(relPath: string, size: number, open: () => Promise<Readable>): Promise<void> {
    if (size <= BUFFER_LIMIT) {
      const data = await readAll(await open());
      await this.pool.start(() => this.putBuffer(relPath, data));
      return;
    }
    await this.pool.drain();
    const { sha256, md5, bytes } = await hashStream(await open());
    const key = this.prefix + relPath;
    if (!this.isPresent(key, bytes, md5)) {
      await this.store.upload(key, await open());
      this.uploaded++;
    }
    this.record(relPath, bytes, sha256);
  }

  async finish(): Promise<RawFile[]> {
    await this.pool.drain();
    return this.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  private async putBuffer(relPath: string, data: Buffer): Promise<void> {
    const key = this.prefix + relPath;
    const md5 = md5Hex(data);
    if (!this.isPresent(key, data.length, md5)) {
      await this.store.putObject(key, data);
      this.uploaded++;
    }
    this.record(relPath, data.length, createHash('sha256').update(data).digest('hex'));
  }

  /** Single-part ETags are the MD5 of the content; multipart ones ('-N') fall back to the size. */
  private isPresent(key: string, size: number, md5: string): boolean {
    const e = this.existing.get(key);
    if (!e || e.size !== size) return false;
    return e.etag.includes('-') ? true : e.etag === md5;
  }

  private record(relPath: string, size: number, sha256: string) {
    this.files.push({ path: relPath, size, sha256 });
    this.bytes += size;
    this.ctx.report({ stage: 'fetch', phase: 'copy', files: this.files.length, bytes: this.bytes, uploaded: this.uploaded });
  }
}

async function hashStream(stream: Readable): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const c of stream) {
    sha.update(c as Buffer);
    md5.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), bytes };
}
