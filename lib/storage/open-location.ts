/**
 * Reads any supported location (s3://, http(s)://, local path) as bytes or a stream: THE one way to fetch a thing by
 * URI (identity files, weights files, archives, verify inputs). Every location passes the worker's input policy
 * first (lib/security): local roots by purpose, readable buckets, URL destinations; a refusal is 'forbidden' and
 * names the input and the rule.
 */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { SiamfaceError } from '../errors';
import { s3Config } from '../config';
import { redactUrl } from '../redact';
import { inputPolicyFromEnv, type InputPolicy, type LocalPurpose } from '../security/input-policy';
import { checkLocation } from '../security/check-location';
import type { Resolver } from '../security/url-destination';
import { httpError, httpGet, type HttpBody } from './http-get';
import { ObjectStore, readAll } from './object-store';
import { isUri, parseUri, type Location } from './uri';

export { FetchError, httpError } from './http-get';
export { redactUrl } from '../redact';

export interface OpenOptions {
  /** Store used for s3:// locations in its own bucket; other buckets reuse its endpoint and credentials. */
  store?: ObjectStore;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Which local roots apply (default 'image', the strictest: none unless the operator lists some). */
  purpose?: LocalPurpose;
  /** Default: the worker's policy from its environment. */
  policy?: InputPolicy;
  /** Largest size this kind of file may have. */
  maxBytes?: number;
  /** Names the input in errors, e.g. 'identity file'. */
  what?: string;
  httpError?: (status: number, url: string) => SiamfaceError;
  resolve?: Resolver;
  /** Whole-download limit of an http(s) location (see HttpGetOptions.timeout). */
  timeout?: { ms: number; setting: string };
}

/** The bytes of a location; http(s) answers also carry their validator and, for a Range request, the range (HttpBody). */
export async function openLocation(location: string | Location, opts: OpenOptions = {}): Promise<{ stream: Readable; size?: number } & Pick<HttpBody, 'validator' | 'range'>> {
  const loc = typeof location === 'string' ? parseUri(location) : location;
  const policy = opts.policy ?? inputPolicyFromEnv();
  const what = opts.what ?? 'input';
  const cap = opts.maxBytes ?? Infinity;
  const tooBig = (shown: string, size: number) => new SiamfaceError('bad_input', `${what} ${shown} is ${size} bytes, above the ${cap}-byte limit for it`, { details: { rule: 'max-bytes' } });
  switch (loc.kind) {
    case 'file': {
      const checked = await checkLocation(loc, { policy, purpose: opts.purpose ?? 'image', what, ownBucket: opts.store?.bucket ?? s3Config().bucket });
      const real = (checked as { path: string }).path;
      const st = await fs.promises.stat(real);
      if (!st.isFile()) throw new SiamfaceError('bad_input', `${what} ${loc.path} is not a regular file`);
      if (st.size > cap) throw tooBig(loc.path, st.size);
      return { stream: fs.createReadStream(real), size: st.size };
    }
    case 's3': {
      await checkLocation(loc, { policy, purpose: opts.purpose ?? 'image', what, ownBucket: opts.store?.bucket ?? s3Config().bucket });
      const store = storeForBucket(loc.bucket, opts.store);
      const info = await store.head(loc.key);
      if (!info) throw new SiamfaceError('not_found', `${what} s3://${loc.bucket}/${loc.key} does not exist`);
      if (info.size > cap) throw tooBig(`s3://${loc.bucket}/${loc.key}`, info.size);
      return { stream: await store.getStream(loc.key), size: info.size };
    }
    case 'http':
      return httpGet(loc.url, { policy: policy.url, what, headers: opts.headers, signal: opts.signal, maxBytes: opts.maxBytes, resolve: opts.resolve, httpError: opts.httpError ?? httpError, timeout: opts.timeout });
  }
}

export async function readLocation(location: string | Location, opts: OpenOptions = {}): Promise<Buffer> {
  const { stream } = await openLocation(location, opts);
  return readAll(stream);
}

export function storeForBucket(bucket: string, store?: ObjectStore): ObjectStore {
  if (store && store.bucket === bucket) return store;
  // The store does not keep the secret (so logging it cannot leak it): it comes from the environment again.
  const env = s3Config();
  return new ObjectStore({ ...env, ...(store?.config ?? {}), secretAccessKey: env.secretAccessKey, bucket });
}

/** A location as it may appear in a message, a manifest or a report. */
export function displayLocation(location: string): string {
  return isUri(location) && !location.startsWith('s3://') ? redactUrl(location) : location;
}
