/** S3 locations a workflow input names: reads from the worker's own bucket or the operator's read prefixes; outputs only under the output prefixes. */
import { forbidden } from '../errors';
import { POLICY_ENV, type InputPolicy, type S3Prefix } from './input-policy';

/** The worker's own layout: an output may never land there, whatever the output prefixes say. */
export const RESERVED_PREFIXES = ['datasets/', 'runs/', 'models/', 'jobs/', 'cache/'];

const covers = (p: S3Prefix, ownBucket: string, bucket: string, key: string) => (p.bucket || ownBucket) === bucket && key.startsWith(p.prefix);

function checkKeyShape(what: string, bucket: string, key: string): void {
  if (key.split('/').some((s) => s === '.' || s === '..')) throw forbidden(`${what} s3://${bucket}/${key} is refused: '.' and '..' segments are not allowed in S3 keys`, { rule: 's3-key' });
}

export function checkS3Read(policy: InputPolicy, ownBucket: string, bucket: string, key: string, what: string): void {
  checkKeyShape(what, bucket, key);
  if (bucket === ownBucket || policy.s3Read.some((p) => covers(p, ownBucket, bucket, key))) return;
  throw forbidden(`${what} s3://${bucket}/${key} is refused: workers read only their own bucket and the prefixes the operator lists in ${POLICY_ENV.s3Read}`, { rule: POLICY_ENV.s3Read });
}

export function checkS3Output(policy: InputPolicy, ownBucket: string, bucket: string, key: string, what: string): void {
  checkKeyShape(what, bucket, key);
  if (bucket === ownBucket && RESERVED_PREFIXES.some((r) => key.startsWith(r) || r.startsWith(key))) {
    throw forbidden(`${what} s3://${bucket}/${key} is refused: outputs never go under the worker's own ${RESERVED_PREFIXES.join(', ')} prefixes`, { rule: 'reserved-prefix' });
  }
  if (policy.s3Output.some((p) => covers(p, ownBucket, bucket, key))) return;
  const allowed = policy.s3Output.map((p) => `s3://${p.bucket || ownBucket}/${p.prefix}`).join(', ') || 'none';
  throw forbidden(`${what} s3://${bucket}/${key} is refused: outputs may be written only under ${allowed} (${POLICY_ENV.s3Output})`, { rule: POLICY_ENV.s3Output });
}
