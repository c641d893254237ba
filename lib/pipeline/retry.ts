/**
 * The one place retry policies are built. Workflows import this (it must stay workflow-safe: no I/O,
 * type-only imports), so every workflow refuses to retry the same permanent error types.
 */
import type { RetryPolicy } from '@temporalio/common';
import type { ErrorCode } from '../errors';

/** Error types (SiamfaceError codes) that no retry can fix: bad input, credentials, unsafe archives. */
export const NON_RETRYABLE_ERROR_TYPES: readonly ErrorCode[] = ['bad_input', 'bad_credentials', 'forbidden', 'not_found', 'unsafe_archive', 'checksum_mismatch', 'too_many_bad_images', 'no_face'];

export interface RetryPolicyInput {
  maximumAttempts: number;
  /** Further error types that are permanent for these activities only (e.g. 'bad_image' for batch rows). */
  extraNonRetryable?: readonly ErrorCode[];
  /** Default 2s; doubled per attempt up to 1 minute. */
  initialInterval?: string;
}

/** A retry policy with exponential backoff that never retries NON_RETRYABLE_ERROR_TYPES. */
export function retryPolicy(input: RetryPolicyInput): RetryPolicy {
  if (!Number.isInteger(input.maximumAttempts) || input.maximumAttempts < 1) {
    throw new Error(`retryPolicy: maximumAttempts must be an integer >= 1, got ${JSON.stringify(input.maximumAttempts)}`);
  }
  return {
    initialInterval: input.initialInterval ?? '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: input.maximumAttempts,
    nonRetryableErrorTypes: [...new Set([...NON_RETRYABLE_ERROR_TYPES, ...(input.extraNonRetryable ?? [])])],
  };
}
