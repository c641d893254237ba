/** Shapes of verification requests and results (single pairs and batch rows). */
import type { FaceBox, FaceLandmarks5 } from '../face/types';

/** An image to verify: a local path, an s3:// URI, an http(s):// URL, or the file's bytes. */
export type ImageInput = string | Buffer | Uint8Array;

/** 'auto': as the model card says (see detection-policy.ts); 'always': detect + align; 'never': centre crop. */
export type DetectMode = 'auto' | 'always' | 'never';

export interface ModelRef {
  name: string;
  /** Default: the production version. */
  version?: number;
}

/**
 * Per-image failures a caller can act on; anything else is an internal or transient error. 'forbidden': the worker's
 * input policy refused the location (or its server refused access), whether or not it exists. 'fetch_failed': an
 * http(s) image could not be fetched (unreachable, no DNS answer, 5xx, cut off); 'timeout': it was too slow.
 */
export type ImageErrorCode = 'no_face' | 'bad_image' | 'not_found' | 'forbidden' | 'fetch_failed' | 'timeout';

export interface FaceInfo {
  box: FaceBox;
  landmarks: FaceLandmarks5;
  score: number;
  /** Faces found in the image; the largest one was used. */
  faceCount: number;
}

export interface VerifyTimings {
  decode: number;
  detect: number;
  embed: number;
  total: number;
}

export interface VerifyResult {
  verified: boolean;
  /** Euclidean distance between the two L2-normalised embeddings (0..2). */
  distance: number;
  /** Same person when distance <= threshold. */
  threshold: number;
  /** P(same person) from the model card's logistic calibration. */
  confidence: number;
  model: { name: string; version: number; engine: 'onnx' | 'tfjs' };
  /** Per image: the face used, or null when detection was skipped (centre crop). */
  faces: [FaceInfo | null, FaceInfo | null];
  timings: VerifyTimings;
}

/** One line of a batch job's results. */
export type BatchResultRow =
  | {
      row: number;
      a: string;
      b: string;
      label?: number;
      verified: boolean;
      distance: number;
      confidence: number;
    }
  | { row: number; a?: string; b?: string; label?: number; error: { code: BatchErrorCode; message: string; image?: 'a' | 'b' } };

/** Row-level errors of a batch job: an image's error, or a line that is not a pair. */
export type BatchErrorCode = ImageErrorCode | 'bad_row';
