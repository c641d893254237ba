/**
 * Stage 1: copy a data set (Kaggle CelebA, a folder, an s3:// prefix or an archive) into `datasets/<id>/raw/`,
 * streaming, resumable (objects already there with the same size and MD5 are not uploaded again) and
 * finished by `raw/_manifest.json`. A second run with the same source finds the manifest and does nothing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SiamfaceError, badInput } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import { ObjectStore, readAll } from '../storage/object-store';
import { displayLocation, openLocation, readLocation, redactUrl, storeForBucket } from '../storage/open-location';
import { inputPolicyFromEnv, type InputPolicy } from '../security/input-policy';
import { checkLocation } from '../security/check-location';
import { listArchive, readArchive } from './archive';
import { checkIdentityFileMd5, md5Hex, parseIdentityFile, type IdentityMap } from './identity-file';
import { downloadKaggleDataset, readKaggleCredentials } from './kaggle';
import { limiter } from './pool';
import type { RawFile, RawImage, RawManifest } from './raw-manifest';
import {
  DEFAULT_KAGGLE_DATASET,
  IMAGE_EXTENSIONS,
  datasetIdFor,
  expectedIdentityMd5,
  rawManifestKey,
  rawPrefix,
  sourceHash,
  validateSource,
  type DatasetSource,
} from './sources';

export interface FetchInput {
  source: DatasetSource;
  /** Default: derived from the source config (stable hash). */
  datasetId?: string;
  /** Where archives are downloaded before extraction; default the OS temp dir. Never from workflow input (the activity drops it). */
  tmpDir?: string;
  /** Parallel uploads; default 8. */
  uploadConcurrency?: number;
}

export interface FetchResult {
  datasetId: string;
  rawPrefix: string;
  manifestKey: string;
  /** Files in raw/ (including non-image files such as CelebA's CSVs). */
  files: number;
  /** Labelled images. */
  images: number;
  bytes: number;
  /** Entries not copied or not usable as images (see the manifest for reasons). */
  skipped: number;
  /** Objects actually uploaded by this run (0 when everything was already there). */
  uploaded: number;
}

/** Files above this are streamed twice (hash, then upload) instead of buffered. */
const BUFFER_LIMIT = 16 * 1024 * 1024;
const IDENTITY_FILE_NAME = 'identity_CelebA.txt';
const RAW_MANIFEST_NAME = '_manifest.json';
const CELEBA_IMAGE_DIR = /(^|\/)img_align_celeba\/img_align_celeba\/[^/]+$/;

/** An identity file is a few MB (the official one 3.4 MB); anything far larger is not one. */
const MAX_IDENTITY_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Refuses (before anything is read or written) a source whose locations the worker's policy does not allow.
 * Returns the folder location as checked (a local path as its realpath).
 */
export async function checkSourceAllowed(source: DatasetSource, policy: InputPolicy, ownBucket: string, opts: { resolveHost?: boolean } = {}) {
  const check = (location: string, what: string) => checkLocation(location, { policy, purpose: 'dataset', what, ownBucket, ...opts });
  if (source.identityFile) await check(source.identityFile, 'dataset.source.identityFile');
  return source.kind === 'folder' ? check(source.location, 'dataset.source.location') : undefined;
}

export async function fetchDataset(store: ObjectStore, input: FetchInput, ctx: RunContext, policy: InputPolicy = inputPolicyFromEnv()): Promise<FetchResult> {
  const source = validateSource(input.source);
  const folder = await checkSourceAllowed(source, policy, store.bucket);
  const datasetId = datasetIdFor(source, input.datasetId);
  const prefix = rawPrefix(datasetId);
  const manifestKey = rawManifestKey(datasetId);
  const hash = sourceHash(source);

  const done = await store.getJsonIfExists<RawManifest>(manifestKey);
  if (done && done.value.sourceHash === hash) {
    ctx.log('raw data already complete', { datasetId });
    return resultOf(done.value, prefix, manifestKey, 0);
  }
  if (done) throw badInput(`${store.uri(manifestKey)} was written for another source: choose another datasetId or delete ${store.uri(prefix)}`);

  const writer = await RawWriter.open(store, prefix, ctx, input.uploadConcurrency ?? 8);
  const skipped: { path: string; reason: string }[] = [];
  const images: RawImage[] = [];
  const seenIds = new Set<string>();
  const addImage = (relPath: string, identity: string | undefined, fileName: string) => {
    if (identity === undefined) {
      skipped.push({ path: relPath, reason: 'no identity label' });
      return false;
    }
    const id = `${identity}/${fileName}`;
    if (seenIds.has(id)) {
      skipped.push({ path: relPath, reason: `duplicate image id ${id}` });
      return false;
    }
    seenIds.add(id);
    images.push({ id, identity, path: relPath });
    return true;
  };

  // The identity file is checked first: a wrong file fails before a long download.
  let identities: IdentityMap | undefined;
  let identityFile: RawManifest['identityFile'];
  let identityFileData: Buffer | undefined;
  const identityLocation = source.kind === 'kaggle-celeba' ? source.identityFile : source.identityFile;
  if (identityLocation) {
    const shown = displayLocation(identityLocation);
    const data = await readLocation(identityLocation, { store, signal: ctx.signal, policy, purpose: 'dataset', what: 'identity file', maxBytes: MAX_IDENTITY_FILE_BYTES });
    const expected = expectedIdentityMd5(source);
    if (expected) checkIdentityFileMd5(data, shown, expected);
    identities = parseIdentityFile(data.toString('utf8'), shown);
    identityFileData = data;
    identityFile = { path: IDENTITY_FILE_NAME, md5: md5Hex(data) };
  }

  let partitionFile: string | undefined;
  const tmpRoot = path.join(input.tmpDir ?? os.tmpdir(), 'siamface-fetch', datasetId);
  if (source.kind === 'kaggle-celeba') {
    const dataset = source.dataset ?? DEFAULT_KAGGLE_DATASET;
    const archive = path.join(tmpRoot, `${dataset.replace('/', '__')}.zip`);
    const credentials = readKaggleCredentials();
    ctx.log('downloading from Kaggle', { dataset });
    await downloadKaggleDataset({
      apiBaseUrl: policy.kaggleApiUrl,
      policy,
      dataset,
      credentials,
      destFile: archive,
      signal: ctx.signal,
      onBytes: (bytes, total) => ctx.report({ stage: 'fetch', phase: 'download', downloadedBytes: bytes, totalBytes: total }),
    });
    const display = `Kaggle archive ${dataset}`;
    const entries = await listArchive(archive, display, ctx.signal, policy.archive);
    const selected = selectCelebaImages(entries.map((e) => e.path), identities!, source.maxImages);
    await readArchive(
      archive,
      display,
      async (entry, open) => {
        throwIfAborted(ctx.signal);
        if (CELEBA_IMAGE_DIR.test(entry.path) && IMAGE_EXTENSIONS.test(entry.path)) {
          const name = path.posix.basename(entry.path);
          if (!selected.has(entry.path)) {
            if (!identities!.has(name)) skipped.push({ path: entry.path, reason: 'no identity label' });
            return; // beyond maxImages: not part of this data set
          }
          if (!addImage(entry.path, identities!.get(name), name)) return;
        } else if (path.posix.basename(entry.path) === 'list_eval_partition.csv') {
          partitionFile = entry.path;
        }
        await writer.putEntry(entry.path, entry.size, open);
      },
      { signal: ctx.signal, ...policy.archive },
    ).then((r) => skipped.push(...r.skipped));
  } else {
    const loc = folder!;
    const labelOf = (relPath: string) => {
      const name = path.posix.basename(relPath);
      if (identities) return { identity: identities.get(name), name };
      const dir = path.posix.dirname(relPath);
      return { identity: dir === '.' ? undefined : path.posix.basename(dir), name };
    };
    const onFile = async (relPath: string, size: number, open: () => Promise<Readable>) => {
      throwIfAborted(ctx.signal);
      if (relPath === RAW_MANIFEST_NAME) {
        skipped.push({ path: relPath, reason: 'reserved name (a raw copy of another dataset?)' });
        return;
      }
      if (IMAGE_EXTENSIONS.test(relPath)) {
        const { identity, name } = labelOf(relPath);
        if (!addImage(relPath, identity, name)) return;
      }
      await writer.putEntry(relPath, size, open);
    };
    if (loc.kind === 'file') {
      await walkLocalDir(loc.path, onFile, skipped, ctx.signal);
    } else if (loc.kind === 's3') {
      const src = storeForBucket(loc.bucket, store);
      const base = loc.key === '' || loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
      for await (const o of src.list(base)) {
        if (o.key.endsWith('/')) continue;
        await onFile(o.key.slice(base.length), o.size, () => src.getStream(o.key));
      }
    } else {
      const archive = path.join(tmpRoot, 'archive');
      await downloadTo(loc.url, archive, ctx, policy);
      const display = `archive ${redactUrl(loc.url)}`;
      const r = await readArchive(archive, display, (entry, open) => onFile(entry.path, entry.size, open), { signal: ctx.signal, ...policy.archive });
      skipped.push(...r.skipped);
    }
  }
  // Stored only once the source itself was readable, so a refused download leaves nothing behind.
  if (identityFileData) await writer.put(IDENTITY_FILE_NAME, identityFileData);
  const files = await writer.finish();
  if (images.length === 0) throw badInput(`${displayLocation(source.kind === 'folder' ? source.location : source.dataset ?? DEFAULT_KAGGLE_DATASET)} holds no labelled images (expected <identity>/<image> files${identities ? ' listed in the identity file' : ''})`);

  images.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const manifest: RawManifest = {
    version: 1,
    datasetId,
    sourceHash: hash,
    source: redactSource(source),
    layout: source.kind === 'kaggle-celeba' ? 'kaggle-celeba' : 'folder',
    files,
    images,
    identityFile,
    partitionFile,
    skipped,
    bytes: files.reduce((s, f) => s + f.size, 0),
    createdAt: new Date().toISOString(),
  };
  await store.putJson(manifestKey, manifest);
  await fs.promises.rm(tmpRoot, { recursive: true, force: true });
  ctx.report({ stage: 'fetch', phase: 'done', files: files.length, images: images.length, uploaded: writer.uploaded });
  return resultOf(manifest, prefix, manifestKey, writer.uploaded);
}

function resultOf(m: RawManifest, prefix: string, manifestKey: string, uploaded: number): FetchResult {
  return { datasetId: m.datasetId, rawPrefix: prefix, manifestKey, files: m.files.length, images: m.images.length, bytes: m.bytes, skipped: m.skipped.length, uploaded };
}

/** Labelled CelebA images, optionally only the first `maxImages` by file name. */
function selectCelebaImages(paths: string[], identities: IdentityMap, maxImages?: number): Set<string> {
  const labelled = paths.filter((p) => CELEBA_IMAGE_DIR.test(p) && IMAGE_EXTENSIONS.test(p) && identities.has(path.posix.basename(p))).sort();
  return new Set(maxImages ? labelled.slice(0, maxImages) : labelled);
}

/** Writes raw objects with bounded parallelism, skipping those already present with the same size and MD5. */
class RawWriter {
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

/** Regular files under `root` in sorted order; symlinks are recorded as skipped, never followed. */
async function walkLocalDir(
  root: string,
  onFile: (relPath: string, size: number, open: () => Promise<Readable>) => Promise<void>,
  skipped: { path: string; reason: string }[],
  signal: AbortSignal,
): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(root);
  } catch {
    throw new SiamfaceError('not_found', `dataset folder ${root} does not exist`);
  }
  if (!st.isDirectory()) {
    throw badInput(`${root} is a file: a local dataset source must be a directory of <identity>/<image> files (or give an http(s) archive)`);
  }
  const visit = async (dir: string, rel: string): Promise<void> => {
    const entries = await fs.promises.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      throwIfAborted(signal);
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, e.name);
      if (e.isSymbolicLink()) skipped.push({ path: relPath, reason: 'symlink not followed' });
      else if (e.isDirectory()) await visit(full, relPath);
      else if (e.isFile()) {
        const size = (await fs.promises.lstat(full)).size;
        await onFile(relPath, size, async () => fs.createReadStream(full));
      } else skipped.push({ path: relPath, reason: 'not a regular file' });
    }
  };
  await visit(root, '');
}

async function downloadTo(url: string, file: string, ctx: RunContext, policy: InputPolicy): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const { stream, size } = await openLocation(url, { signal: ctx.signal, policy, purpose: 'dataset', what: 'dataset archive' });
  let bytes = 0;
  stream.on('data', (c: Buffer) => {
    bytes += c.length;
    ctx.report({ stage: 'fetch', phase: 'download', downloadedBytes: bytes, totalBytes: size });
  });
  await pipeline(stream, fs.createWriteStream(file), { signal: ctx.signal });
  if (size !== undefined && bytes !== size) throw new SiamfaceError('transient', `download of ${redactUrl(url)} ended after ${bytes} of ${size} bytes`, { permanent: false });
}

function redactSource(source: DatasetSource): DatasetSource {
  if (source.kind === 'kaggle-celeba') return { ...source, identityFile: displayLocation(source.identityFile) };
  return { ...source, location: displayLocation(source.location), identityFile: source.identityFile && displayLocation(source.identityFile) };
}
