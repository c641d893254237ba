/**
 * Domain errors shared by every stage. lib/ never imports Temporal: activities map these
 * to Temporal failures (permanent -> non-retryable ApplicationFailure, the rest retry).
 */
export type ErrorCode =
  | 'bad_input' // the user's data or config is wrong; retrying cannot help
  | 'bad_credentials' // authentication refused (Kaggle, S3)
  | 'forbidden' // the worker's input policy refuses this location (local root, bucket, URL destination)
  | 'not_found' // a referenced object/file/URL does not exist
  | 'unsafe_archive' // zip-slip, absolute paths, symlinks
  | 'checksum_mismatch'
  | 'too_many_bad_images'
  | 'precondition_failed' // a conditional write lost the race
  | 'lease_lost' // a newer attempt took over the training run: this one is superseded and stops
  | 'no_face'
  | 'bad_image' // an image that cannot be decoded (corrupt, truncated, not an image)
  | 'transient'; // network blips, 5xx, throttling: retry

export class SiamfaceError extends Error {
  readonly code: ErrorCode;
  /** Permanent errors become non-retryable Temporal failures. */
  readonly permanent: boolean;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: { permanent?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'SiamfaceError';
    this.code = code;
    this.permanent = opts.permanent ?? code !== 'transient';
    this.details = opts.details;
  }
}

export const badInput = (message: string, details?: Record<string, unknown>) => new SiamfaceError('bad_input', message, { details });
export const notFound = (message: string, details?: Record<string, unknown>) => new SiamfaceError('not_found', message, { details });
/** A refusal by the worker's input policy: names the input and the rule it broke. */
export const forbidden = (message: string, details?: Record<string, unknown>) => new SiamfaceError('forbidden', message, { details });
export const transient = (message: string, cause?: unknown) => new SiamfaceError('transient', message, { cause, permanent: false });

/** Where JSON.parse failed, without its message's quote of the text (messages never quote file contents). */
export function jsonErrorPosition(err: unknown): string {
  const at = /at position (\d+)/.exec((err as Error)?.message ?? '')?.[1];
  return at !== undefined ? ` (at character ${Number(at) + 1})` : '';
}
