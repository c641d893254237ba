/** Shapes of the evaluation input and of `runs/<run>/eval/report.json`. */
import type { LogisticCalibration, CalibrationQuality } from './calibration';
import type { DistanceStats, KFoldResult, RocPoint, TarAtFar } from './metrics';

/** Two image ids and whether they show the same person (1) or not (0). */
export interface Pair {
  a: string;
  b: string;
  label: 0 | 1;
}

export interface ScoredPair extends Pair {
  distance: number;
}

/** Embeds images by id; returns one embedding per id, in order. How it does so is the caller's business. */
export type EmbedFn = (imageIds: string[]) => Promise<Float32Array[]>;

export interface PairSetSummary {
  /** sha256 of the pairs in order (`a\tb\tlabel\n` each): equal checksums mean the same evaluation pairs. */
  checksum: string;
  pairs: number;
  genuine: number;
  impostor: number;
  images: number;
  /** Distinct identities among the images, or null when no identity lookup was given. */
  identities: number | null;
}

/** Where the evaluated things came from, copied into the report and the model card. */
export interface EvalLineage {
  run?: string;
  model?: string;
  dataset?: string;
  /** Checksum of the dataset manifest, so a card can name exactly which data it was measured on. */
  datasetManifestChecksum?: string;
  config?: string;
}

/** Flat headline metrics on the TEST pairs, the names the promotion rule can compare. */
export interface HeadlineMetrics {
  rocAuc: number;
  /** Accuracy at the validation-chosen threshold. */
  accuracy: number;
  eer: number;
  kFoldAccuracy: number;
  kFoldStd: number;
  /** TAR at FAR 1e-1, 1e-2, 1e-3 on the test ROC. */
  tarAtFar1e1: number;
  tarAtFar1e2: number;
  tarAtFar1e3: number;
  brier: number;
  ece: number;
}

export interface EvalReport {
  schemaVersion: 1;
  createdAt: string;
  lineage: EvalLineage;
  pairs: { val: PairSetSummary; test: PairSetSummary };
  embedding: { images: number; dimension: number; seconds: number };
  metrics: HeadlineMetrics;
  /** The decision threshold, chosen on validation pairs only (maximum accuracy). */
  threshold: { method: 'max-accuracy'; chosenOn: 'val'; value: number; valAccuracy: number };
  /** A second operating point: the validation threshold that meets a target FAR, and how it does on test. */
  farThreshold: { targetFar: number; chosenOn: 'val'; value: number; valTar: number; valFar: number; testTar: number; testFar: number };
  test: {
    accuracy: number;
    tar: number;
    far: number;
    rocAuc: number;
    eer: number;
    eerThreshold: number;
    tarAtFar: TarAtFar[];
    kFold: KFoldResult;
    distanceStats: { genuine: DistanceStats; impostor: DistanceStats };
    /** The ROC curve, thinned to at most a few hundred points for plotting; recompute from `distances` for the full curve. */
    roc: RocPoint[];
  };
  val: { rocAuc: number; eer: number; distanceStats: { genuine: DistanceStats; impostor: DistanceStats } };
  calibration: LogisticCalibration & { fittedOn: 'val'; val: CalibrationQuality; test: CalibrationQuality };
  /** Every pair with its distance, so any metric can be recomputed from the report alone. */
  distances: { val: ScoredPair[]; test: ScoredPair[] };
}
