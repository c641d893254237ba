/** Where a batch job's results may be copied: a prefix the output policy allows, owned by one job. */
import type { ObjectStore } from '../storage/object-store';
import { displayLocation } from '../storage/open-location';
import { parseUri } from '../storage/uri';
import type { InputPolicy } from '../security/input-policy';
import { checkS3Output } from '../security/s3-scope';
import { badInput, SiamfaceError } from '../errors';

/** A batch output prefix the worker's policy lets it write (never its own datasets/, runs/, models/, jobs/, cache/). */
export function checkOutputPrefix(store: ObjectStore, policy: InputPolicy, output: string): { bucket: string; key: string } {
  const out = parseUri(output.endsWith('/') ? output : `${output}/`);
  if (out.kind !== 's3') throw badInput(`output ${displayLocation(output)} must be an s3:// prefix`);
  checkS3Output(policy, store.bucket, out.bucket, out.key, 'batch output');
  return out;
}

/**
 * One output prefix belongs to one job: the first to write claims it (a conditional put), so another job's
 * results.jsonl is never overwritten; the same job's retry finds its own claim.
 */
export async function claimOutputPrefix(outStore: ObjectStore, prefix: string, jobId: string): Promise<void> {
  const key = `${prefix}owner.json`;
  try {
    await outStore.putJson(key, { jobId }, { ifNoneMatch: '*' });
  } catch (err) {
    if (!(err instanceof SiamfaceError && err.code === 'precondition_failed')) throw err;
    const owner = await outStore.getJson<{ jobId?: string }>(key);
    if (owner.jobId !== jobId) throw new SiamfaceError('forbidden', `batch output ${outStore.uri(prefix)} is refused: it already holds the results of job ${owner.jobId}; choose another output prefix`, { details: { rule: 'output-owner' } });
  }
}
