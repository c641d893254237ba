/** Checks one location against the input policy without reading it: planning refuses a bad input before any work starts. */
import { parseUri, type Location } from '../storage/uri';
import type { InputPolicy, LocalPurpose } from './input-policy';
import { allowedLocalPath } from './local-roots';
import { checkS3Read } from './s3-scope';
import { checkUrlDestination, type Resolver } from './url-destination';

export interface LocationCheck {
  policy: InputPolicy;
  purpose: LocalPurpose;
  /** Names the input in refusals, e.g. 'dataset.source.location'. */
  what: string;
  ownBucket: string;
  resolve?: Resolver;
  /** false: check a URL's scheme and literal address only (planning; the host is resolved and checked when fetched). */
  resolveHost?: boolean;
}

/** Throws 'forbidden' naming the rule; returns the parsed location (local paths as their realpath). */
export async function checkLocation(location: string | Location, c: LocationCheck): Promise<Location> {
  const loc = typeof location === 'string' ? parseUri(location) : location;
  switch (loc.kind) {
    case 'file':
      return { kind: 'file', path: await allowedLocalPath(c.policy, c.purpose, loc.path, c.what) };
    case 's3':
      checkS3Read(c.policy, c.ownBucket, loc.bucket, loc.key, c.what);
      return loc;
    case 'http':
      await checkUrlDestination(c.policy.url, new URL(loc.url), c.what, c.resolveHost === false ? 'skip' : c.resolve);
      return loc;
  }
}
