/**
 * The failure converter of every worker (activities and the workflow sandbox): each failure that goes into a history
 * has its message and stack trace, and its causes', passed through lib/redact (URL userinfo and query strings, every
 * credential the worker holds). Activities redact their own errors too; this catches what they did not make (SDK,
 * S3 client, a bug's stack trace). Loaded by path (dataConverter.failureConverterPath) and bundled into the workflows.
 */
import { DefaultFailureConverter, type PayloadConverter, type ProtoFailure } from '@temporalio/common';
import { redactSecrets } from '../lib/redact';

class RedactingFailureConverter extends DefaultFailureConverter {
  override errorToFailure(err: unknown, payloadConverter: PayloadConverter): ProtoFailure {
    return redactFailure(super.errorToFailure(err, payloadConverter));
  }
}

function redactFailure(f: ProtoFailure): ProtoFailure {
  if (f.message) f.message = redactSecrets(f.message);
  if (f.stackTrace) f.stackTrace = redactSecrets(f.stackTrace);
  if (f.cause) redactFailure(f.cause);
  return f;
}

export const failureConverter = new RedactingFailureConverter();
