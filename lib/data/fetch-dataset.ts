/**
 * Stage 1: copy a data set (Kaggle CelebA, a folder, an s3:// prefix or an archive) into `datasets/<id>/raw/`,
 * streaming, resumable (objects already there with the same size and MD5 are not uploaded again) and
 * finished by `raw/_manifest.json`. A second run with the same source finds the manifest and does nothing.
 * This module checks the policy, labels images and writes the manifest; each source kind is read by its adapter
 * (./source-adapters/).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { badInput } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import { displayLocation, readLocation } from '../storage/open-location';
import type { Location } from '../storage/uri';
import { inputPolicyFromEnv, type InputPolicy } from '../security/input-policy';
import { checkLocation } from '../security/check-location';
import { checkIdentityFileMd5, md5Hex, parseIdentityFile, type IdentityMap } from './identity-file';
import type { ArchivedEntry, RawImage, RawManifest } from './raw-manifest';
import { RawWriter } from './raw-writer';
import { httpArchiveSource } from './source-adapters/http-archive';
import { isCelebaImage, kaggleCelebaSource } from './source-adapters/kaggle-celeba';
import { localDirSource } from './source-adapters/local-dir';
import { s3PrefixSource } from './source-adapters/s3-prefix';
import type { OnArchivedImage, OnSourceFile, SourceAdapter } from './source-adapters/types';
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

const IDENTITY_FILE_NAME = 'identity_CelebA.txt';
const RAW_MANIFEST_NAME = '_manifest.json';

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
  const addImage = (relPath: string, identity: string | undefined, fileName: string, archived?: ArchivedEntry) => {
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
    images.push({ id, identity, path: relPath, ...(archived ? { archived } : {}) });
    return true;
  };

  // The identity file is checked first: a wrong file fails before a long download.
  let identities: IdentityMap | undefined;
  let identityFile: RawManifest['identityFile'];
  let identityFileData: Buffer | undefined;
  const identityLocation = source.identityFile;
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
  let onFile: OnSourceFile;
  if (source.kind === 'kaggle-celeba') {
    onFile = async (relPath, size, open) => {
      throwIfAborted(ctx.signal);
      if (isCelebaImage(relPath)) {
        const name = path.posix.basename(relPath);
        if (!addImage(relPath, identities!.get(name), name)) return;
      } else if (path.posix.basename(relPath) === 'list_eval_partition.csv') {
        partitionFile = relPath;
      }
      await writer.putEntry(relPath, size, open);
    };
  } else {
    const labelOf = (relPath: string) => {
      const name = path.posix.basename(relPath);
      if (identities) return { identity: identities.get(name), name };
      const dir = path.posix.dirname(relPath);
      return { identity: dir === '.' ? undefined : path.posix.basename(dir), name };
    };
    onFile = async (relPath, size, open) => {
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
  }
  // Images left inside an archive that is stored whole (Kaggle's zip): labelled, not copied.
  const onArchived: OnArchivedImage = async (relPath, entry) => {
    throwIfAborted(ctx.signal);
    const name = path.posix.basename(relPath);
    addImage(relPath, identities?.get(name), name, entry);
  };
  await sourceAdapter(source, folder, { store, ctx, policy, tmpRoot, identities }).walk(onFile, skipped, onArchived);
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

/** The one adapter that reads this source; `folder` is the folder location as the policy check resolved it. */
function sourceAdapter(
  source: DatasetSource,
  folder: Location | undefined,
  o: { store: ObjectStore; ctx: RunContext; policy: InputPolicy; tmpRoot: string; identities?: IdentityMap },
): SourceAdapter {
  if (source.kind === 'kaggle-celeba') {
    return kaggleCelebaSource({ dataset: source.dataset ?? DEFAULT_KAGGLE_DATASET, identities: o.identities!, maxImages: source.maxImages, tmpRoot: o.tmpRoot }, o.ctx, o.policy);
  }
  const loc = folder!;
  switch (loc.kind) {
    case 'file':
      return localDirSource(loc.path, o.ctx.signal);
    case 's3':
      return s3PrefixSource(loc.bucket, loc.key, o.store);
    case 'http':
      return httpArchiveSource(loc.url, o.tmpRoot, o.ctx, o.policy);
  }
}

function redactSource(source: DatasetSource): DatasetSource {
  if (source.kind === 'kaggle-celeba') return { ...source, identityFile: displayLocation(source.identityFile) };
  return { ...source, location: displayLocation(source.location), identityFile: source.identityFile && displayLocation(source.identityFile) };
}
