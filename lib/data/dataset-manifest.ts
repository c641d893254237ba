/** `datasets/<id>/shards/<config hash>/manifest.json`: written by shardDataset when every shard is complete; read by pairs and training. */
import type { PartitionReport, Split } from './celeba-partition';
import type { DetectorKind } from '../face/detector-setting';
import type { CropMode } from './preprocess';
import type { DatasetSource } from './sources';
import type { SplitFractions } from './split';

export interface ShardConfig {
  imageSize: number;
  crop: CropMode;
  shardSize: number;
  splitSeed: number | string;
  fractions: SplitFractions;
  maxBadFraction: number;
  maxInputPixels: number;
  jpegQuality: number;
  /** Crops that detect faces: the detector that found them (SIAMFACE_FACE_DETECTOR), so another one makes another set. */
  faceDetector?: DetectorKind;
}

export interface ShardListing {
  split: Split;
  key: string;
  index: string;
  count: number;
  bytes: number;
  sha256: string;
  /** The tar's ETag: ranged reads ask for exactly this version (If-Match), so a changed shard fails loudly. */
  etag?: string;
}

export interface DatasetManifest {
  version: 1;
  datasetId: string;
  configHash: string;
  config: ShardConfig;
  /** The crop actually applied ('centre' when face alignment was asked for but is not available). */
  cropApplied: CropMode;
  source: DatasetSource;
  identities: number;
  images: number;
  imagesPerIdentity: Record<string, number>;
  identitySplit: Record<string, Split>;
  splits: Record<Split, { identities: number; images: number; shards: number }>;
  shards: ShardListing[];
  quality: {
    checked: number;
    bad: number;
    badFraction: number;
    maxBadFraction: number;
    skipped: { imageId: string; source: string; reason: string }[];
    /** Entries fetchDataset did not copy or could not label. */
    fetchSkipped: { path: string; reason: string }[];
  };
  /** CelebA only: how the official image partition maps onto identities (the split used is identity-disjoint). */
  celebaPartition?: PartitionReport;
  createdAt: string;
}
