import type { ErrorCode } from '../errors';

/** Error types (SiamfaceError codes) that no retry can fix: bad input, credentials, unsafe archives. */
export const NON_RETRYABLE_ERROR_TYPES: readonly ErrorCode[] = ['bad_input', 'bad_credentials', 'forbidden', 'not_found', 'unsafe_archive', 'checksum_mismatch', 'too_many_bad_images', 'no_face'];
