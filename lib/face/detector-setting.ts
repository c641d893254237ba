/** Which face detector the operator chose (SIAMFACE_FACE_DETECTOR): read without loading any model. */
import { badInput } from '../errors';

export type DetectorKind = 'ssd' | 'tiny' | 'blazeface';
export const DETECTOR_KINDS: readonly DetectorKind[] = ['ssd', 'tiny', 'blazeface'];

/**
 * The detector every path uses unless told otherwise (serving, batch jobs, evaluation, the data stages' face crops):
 * the worker operator's SIAMFACE_FACE_DETECTOR, default 'blazeface'. bench/detector-compare (each set's pairs,
 * faceres34): BlazeFace finds as many faces or more than SSD, verifies as accurately or better, and detects and
 * aligns in a fraction of SSD's time. An operator setting, never a request's.
 */
export function defaultDetector(env: NodeJS.ProcessEnv = process.env): DetectorKind {
  const value = env.SIAMFACE_FACE_DETECTOR;
  if (value === undefined || value === '') return 'blazeface';
  if (!(DETECTOR_KINDS as readonly string[]).includes(value)) throw badInput(`SIAMFACE_FACE_DETECTOR must be one of ${DETECTOR_KINDS.join(', ')}, got '${value}'`);
  return value as DetectorKind;
}
