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
  /** Path relative to the raw prefix. */
  path: string;
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
