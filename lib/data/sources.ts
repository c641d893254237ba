/**
 * Where a data set comes from (typed config, validated in one place) and the dataset id derived from it.
 * Credentials never appear here: Kaggle credentials come from the environment or ~/.kaggle/kaggle.json.
 */
import { createHash } from 'node:crypto';
import { badInput, forbidden } from '../errors';
import { OFFICIAL_IDENTITY_FILE_MD5 } from './identity-file';
import { isSafeName, SAFE_NAME_RULE } from '../registry/keys';

export interface KaggleCelebaSource {
  kind: 'kaggle-celeba';
  /** identity_CelebA.txt: http(s) URL, s3:// URI or local path. */
  identityFile: string;
  /** Expected MD5 of the identity file; default: the official file's. */
  identityFileMd5?: string;
  /** owner/name, default jessicali9530/celeba-dataset */
  dataset?: string;
  /** Keep only the first N labelled images (by file name): quick runs on a slice of CelebA. */
  maxImages?: number;
}

export interface FolderSource {
  kind: 'folder';
  /** Local directory, s3:// prefix, or http(s):// zip / tar / tar.gz archive laid out as <identity>/<image>. */
  location: string;
  /** Optional CelebA-format identity file (labels by file name instead of by folder). */
  identityFile?: string;
  identityFileMd5?: string;
}

export type DatasetSource = KaggleCelebaSource | FolderSource;

export const DEFAULT_KAGGLE_DATASET = 'jessicali9530/celeba-dataset';

/** Image file extensions that become dataset images; other files are copied to raw/ but not used. */
export const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|bmp|gif|tiff?)$/i;

const SOURCE_FIELDS: Record<DatasetSource['kind'], readonly string[]> = {
  'kaggle-celeba': ['kind', 'identityFile', 'identityFileMd5', 'dataset', 'maxImages'],
  folder: ['kind', 'location', 'identityFile', 'identityFileMd5'],
};

export function validateSource(source: DatasetSource): DatasetSource {
  if (!source || typeof source !== 'object') throw badInput('dataset source must be an object with a kind');
  // The Kaggle key goes where the endpoint points: the endpoint is worker configuration, never input.
  if (Object.prototype.hasOwnProperty.call(source, 'apiBaseUrl')) {
    throw forbidden('dataset.source.apiBaseUrl is refused: the Kaggle API endpoint is worker configuration (SIAMFACE_KAGGLE_API_URL), not workflow input', { rule: 'kaggle-endpoint' });
  }
  const known = Object.prototype.hasOwnProperty.call(SOURCE_FIELDS, source.kind) ? SOURCE_FIELDS[source.kind] : undefined;
  for (const k of known ? Object.keys(source) : []) {
    if (!known!.includes(k)) throw badInput(`dataset.source.${k} is not a field of a ${source.kind} source (known: ${known!.join(', ')})`);
  }
  switch (source.kind) {
    case 'kaggle-celeba': {
      if (typeof source.identityFile !== 'string' || !source.identityFile) throw badInput('source.identityFile is required for kind kaggle-celeba (URL, s3:// URI or path of identity_CelebA.txt)');
      const ds = source.dataset ?? DEFAULT_KAGGLE_DATASET;
      if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(ds)) throw badInput(`source.dataset '${ds}' must be '<owner>/<dataset>'`);
      if (source.maxImages !== undefined && !(Number.isInteger(source.maxImages) && source.maxImages > 0)) throw badInput(`source.maxImages must be a positive integer, got ${source.maxImages}`);
      checkMd5Format(source.identityFileMd5);
      return source;
    }
    case 'folder': {
      if (typeof source.location !== 'string' || !source.location) throw badInput('source.location is required for kind folder (directory, s3:// prefix or http(s):// archive)');
      checkMd5Format(source.identityFileMd5);
      return source;
    }
    default:
      throw badInput(`unknown dataset source kind '${(source as { kind?: unknown }).kind}' (expected kaggle-celeba or folder)`);
  }
}

function checkMd5Format(md5?: string) {
  if (md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(md5)) throw badInput(`identityFileMd5 '${md5}' is not an MD5 hex digest`);
}

export function expectedIdentityMd5(source: DatasetSource): string | undefined {
  if (source.kind === 'kaggle-celeba') return source.identityFileMd5 ?? OFFICIAL_IDENTITY_FILE_MD5;
  return source.identityFileMd5;
}

/** Stable JSON: keys sorted, undefined dropped, so equal configs hash equally. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`)
    .join(',')}}`;
}

export function sourceHash(source: DatasetSource): string {
  return createHash('sha256').update(stableJson(source)).digest('hex');
}

/** `celeba-<12 hex>` or `folder-<12 hex>` from the source config, unless the caller names it. */
export function datasetIdFor(source: DatasetSource, explicit?: string): string {
  if (explicit !== undefined) {
    if (!isSafeName(explicit)) throw badInput(`dataset id '${explicit}' must be ${SAFE_NAME_RULE}`);
    return explicit;
  }
  const prefix = source.kind === 'kaggle-celeba' ? 'celeba' : 'folder';
  return `${prefix}-${sourceHash(source).slice(0, 12)}`;
}

/** Everything kept for one dataset: raw/, shards/, pairs/, teacher/. */
export const datasetPrefix = (datasetId: string) => `datasets/${datasetId}/`;
export const rawPrefix = (datasetId: string) => `${datasetPrefix(datasetId)}raw/`;
export const rawManifestKey = (datasetId: string) => `${rawPrefix(datasetId)}_manifest.json`;
/**
 * Derived data is keyed by the hash of what produced it, and never rewritten in place: two pipelines on one dataset
 * with different preprocessing (or pairs) each get their own, and neither can change the other's under it.
 * Old sets stay until an operator removes them (a lifecycle rule on the shards/ and pairs/ folders of `datasets/<id>/`).
 */
export const shardSetsPrefix = (datasetId: string) => `${datasetPrefix(datasetId)}shards/`;
export const shardSetPrefix = (datasetId: string, configHash: string) => `${shardSetsPrefix(datasetId)}${configHash}/`;
/** Written by shardDataset last, when every shard of the set is complete. */
export const datasetManifestKey = (datasetId: string, configHash: string) => `${shardSetPrefix(datasetId, configHash)}manifest.json`;
export const pairSetPrefix = (datasetId: string, pairsHash: string) => `${datasetPrefix(datasetId)}pairs/${pairsHash}/`;
