/** The model card: everything needed to trust, reproduce and serve one registered model version. */
import type { EvalReport, HeadlineMetrics, PairSetSummary } from '../eval/types';
import type { LogisticCalibration } from '../eval/calibration';

export interface ModelFile {
  /** Path relative to the version folder (and to `runs/<run>/model/`). */
  path: string;
  size: number;
}

export interface ModelDescription {
  backbone: string;
  /** Input image size in pixels (square) or [height, width]. */
  inputSize: number | [number, number];
  embeddingDim?: number;
  /** How images are prepared (crop, resize, scaling, mean/std), as the model loader expects it. */
  preprocessing: Record<string, unknown>;
  /** The tfjs backend the model was trained with (e.g. 'tensorflow', 'wasm'). */
  backend: string;
  /** Head, objective (loss, teacher) and the weights training started from. */
  training?: Record<string, unknown>;
}

export interface ModelCard {
  schemaVersion: 1;
  name: string;
  version: number;
  /** 'publishing' while files are being copied; only 'ready' versions can be promoted or served. */
  status: 'publishing' | 'ready';
  createdAt: string;
  parentRun: string;
  /** Git commit of the code that trained it, or the package version when git is not available. */
  codeVersion: string;
  model: ModelDescription & { files: ModelFile[] };
  dataset: { id: string; manifestChecksum?: string };
  training: { configId?: string; config: Record<string, unknown> };
  evaluation: {
    reportKey: string;
    evaluatedAt: string;
    metrics: HeadlineMetrics;
    /** Decision threshold on the Euclidean distance (same person when distance <= threshold), chosen on validation pairs. */
    threshold: number;
    farThreshold: { targetFar: number; value: number };
    /** P(same) = 1 / (1 + exp(-(intercept + slope * distance))). */
    calibration: Pick<LogisticCalibration, 'method' | 'intercept' | 'slope'>;
    pairs: { val: PairSetSummary; test: PairSetSummary };
  };
}

/** The evaluation part of a card, from the run's report. */
export function evaluationSummary(report: EvalReport, reportKey: string): ModelCard['evaluation'] {
  return {
    reportKey,
    evaluatedAt: report.createdAt,
    metrics: report.metrics,
    threshold: report.threshold.value,
    farThreshold: { targetFar: report.farThreshold.targetFar, value: report.farThreshold.value },
    calibration: { method: report.calibration.method, intercept: report.calibration.intercept, slope: report.calibration.slope },
    pairs: report.pairs,
  };
}
