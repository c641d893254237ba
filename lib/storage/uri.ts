import * as path from 'node:path';
import { badInput } from '../errors';

/** Where a dataset, weights file or image lives. */
export type Location =
  | { kind: 's3'; bucket: string; key: string }
  | { kind: 'file'; path: string }
  | { kind: 'http'; url: string };

/** True for `scheme://...` (s3://, http(s)://, file:// or any other scheme): a URI, not a local path or an S3 key. */
export function isUri(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
}

/** Parses `s3://bucket/key`, `http(s)://...`, `file:///abs` or a plain (relative or absolute) local path. */
export function parseUri(input: string): Location {
  const s = input.trim();
  if (!s) throw badInput('empty location: expected s3://bucket/key, http(s)://... or a local path');
  if (s.startsWith('s3://')) {
    const rest = s.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? '' : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw badInput(`invalid S3 bucket name '${bucket}' in '${input}'`);
    return { kind: 's3', bucket, key };
  }
  if (/^https?:\/\//i.test(s)) {
    try {
      return { kind: 'http', url: new URL(s).toString() };
    } catch {
      throw badInput(`invalid URL '${input}'`);
    }
  }
  if (s.startsWith('file://')) return { kind: 'file', path: decodeURIComponent(new URL(s).pathname) };
  if (isUri(s)) throw badInput(`unsupported location scheme in '${input}' (use s3://, http(s)://, file:// or a path)`);
  return { kind: 'file', path: path.resolve(s) };
}

export function formatS3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** Joins key segments with single slashes (S3 keys, not file paths). */
export function joinKey(...parts: string[]): string {
  return parts
    .filter((p) => p !== '')
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}
