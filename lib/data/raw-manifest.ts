/**
 * `datasets/<id>/raw/_manifest.json`: what fetchDataset stored and which raw files are labelled images.
 * Written last, so its presence (with the same source hash) means the raw copy is complete.
 */
import type { DatasetSource } from './sources';

export interface RawFile {
  /** Path relative to the raw prefix. */
  path: string;
  size: number;
  sha256: string;
}

export interface RawImage {
  /** `<identity>/<file name>`: the image id used by shards and pairs. */
  id: string;
  identity: string;
  /** Path relative to the raw prefix; for an archived image, its path inside the archive. */
  path: string;
  /** Set when the image stays inside an archive object in raw/ (read with one ranged GET) instead of its own object. */
  archived?: ArchivedEntry;
}

/** A zip entry inside an archive object in raw/: Kaggle's CelebA zip is kept whole, not turned into 202,599 objects. */
export interface ArchivedEntry {
  /** The archive object, relative to the raw prefix. */
  archive: string;
  /** First byte of the entry's data in the archive, and its length there. */
  offset: number;
  compressedSize: number;
  /** Uncompressed size. */
  size: number;
  /** 0 stored, 8 deflated. */
  method: number;
  crc32: number;
}

export interface RawManifest {
  version: 1;
  datasetId: string;
  sourceHash: string;
  /** The source config with URLs' credentials and query strings removed. */
  source: DatasetSource;
  layout: 'kaggle-celeba' | 'folder';
  files: RawFile[];
  images: RawImage[];
  /** Raw-relative path and MD5 of the identity file, when the source has one. */
  identityFile?: { path: string; md5: string };
  /** Raw-relative path of CelebA's list_eval_partition.csv, when present. */
  partitionFile?: string;
  skipped: { path: string; reason: string }[];
  bytes: number;
  createdAt: string;
}
