/**
 * The worker-side input policy: which local folders, S3 buckets/prefixes and URLs a workflow input may make a worker
 * read or write, the Kaggle endpoint, and the archive caps. Set only by the operator (the environment, or the JSON
 * file SIAMFACE_POLICY_FILE names; a variable overrides the file's field); never taken from workflow input.
 * Defaults refuse: no local folders, only the worker's own bucket for reads and `exports/` in it for outputs, https to
 * public addresses only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ipaddr from 'ipaddr.js';

/** Whose rules a local path falls under: pipeline inputs (dataset folders, identity and weights files) or verify images. */
export type LocalPurpose = 'dataset' | 'image';

export interface LocalRoot {
  /** As configured, made absolute. */
  given: string;
  /** Its realpath (the same when it does not exist yet). */
  real: string;
}

/** `bucket` '' stands for the worker's own bucket. */
export interface S3Prefix {
  bucket: string;
  prefix: string;
}

export interface UrlPolicy {
  allowHttp: boolean;
  /** Ranges exempt from the refusal of private, loopback and link-local destinations (CIDR notation). */
  allowPrivate: string[];
  maxRedirects: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Whole-download limit of one verify image (a batch row's image past it is that row's 'timeout'); 0: none. */
  imageTimeoutMs: number;
  /** Largest body any download may have (callers pass smaller caps for their kind of file). */
  maxBytes: number;
}

export interface InputPolicy {
  localRoots: Record<LocalPurpose, LocalRoot[]>;
  /** Readable besides the worker's own bucket. */
  s3Read: S3Prefix[];
  /** Where batch outputs may be written. */
  s3Output: S3Prefix[];
  url: UrlPolicy;
  kaggleApiUrl: string;
  archive: { maxTotalBytes: number; maxEntries: number };
}

export const DEFAULT_KAGGLE_API_URL = 'https://www.kaggle.com/api/v1';

export const POLICY_DEFAULTS = {
  url: { allowHttp: false, allowPrivate: [] as string[], maxRedirects: 3, connectTimeoutMs: 10_000, idleTimeoutMs: 30_000, imageTimeoutMs: 60_000, maxBytes: 16 * 1024 ** 3 },
  archive: { maxTotalBytes: 32 * 1024 ** 3, maxEntries: 1_000_000 },
  s3Output: [{ bucket: '', prefix: 'exports/' }] as S3Prefix[],
};

/** The environment variable behind each setting (named in refusals so an operator knows what to change). */
export const POLICY_ENV = {
  file: 'SIAMFACE_POLICY_FILE',
  datasetRoots: 'SIAMFACE_DATASET_ROOTS',
  imageRoots: 'SIAMFACE_IMAGE_ROOTS',
  s3Read: 'SIAMFACE_S3_READ_PREFIXES',
  s3Output: 'SIAMFACE_S3_OUTPUT_PREFIXES',
  allowHttp: 'SIAMFACE_URL_ALLOW_HTTP',
  allowPrivate: 'SIAMFACE_URL_ALLOW_PRIVATE',
  maxRedirects: 'SIAMFACE_URL_MAX_REDIRECTS',
  connectTimeoutMs: 'SIAMFACE_URL_CONNECT_TIMEOUT_MS',
  idleTimeoutMs: 'SIAMFACE_URL_IDLE_TIMEOUT_MS',
  imageTimeoutMs: 'SIAMFACE_URL_IMAGE_TIMEOUT_MS',
  maxBytes: 'SIAMFACE_URL_MAX_BYTES',
  kaggleApiUrl: 'SIAMFACE_KAGGLE_API_URL',
  testKaggleApiUrl: 'SIAMFACE_TEST_KAGGLE_API_URL',
  archiveMaxBytes: 'SIAMFACE_ARCHIVE_MAX_BYTES',
  archiveMaxEntries: 'SIAMFACE_ARCHIVE_MAX_ENTRIES',
} as const;

export class PolicyConfigError extends Error {
  constructor(setting: string, message: string) {
    super(`input policy: ${setting}: ${message}`);
    this.name = 'PolicyConfigError';
  }
}

/** The policy file's shape; every field optional. */
interface PolicyFile {
  localRoots?: { dataset?: string[]; image?: string[] };
  s3?: { read?: string[]; output?: string[] };
  url?: Partial<UrlPolicy>;
  kaggleApiUrl?: string;
  archive?: Partial<InputPolicy['archive']>;
}

const FILE_FIELDS: Record<string, readonly string[]> = {
  '': ['localRoots', 's3', 'url', 'kaggleApiUrl', 'archive'],
  localRoots: ['dataset', 'image'],
  s3: ['read', 'output'],
  url: ['allowHttp', 'allowPrivate', 'maxRedirects', 'connectTimeoutMs', 'idleTimeoutMs', 'imageTimeoutMs', 'maxBytes'],
  archive: ['maxTotalBytes', 'maxEntries'],
};

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

function checkFields(where: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PolicyConfigError(where || '(root)', 'must be a JSON object');
  const known = FILE_FIELDS[where.replace(/^.*\./, '')] ?? [];
  for (const k of Object.keys(value)) {
    if (!known.includes(k)) throw new PolicyConfigError(where ? `${where}.${k}` : k, `unknown field (known: ${known.join(', ')})`);
    if (own(FILE_FIELDS, k) && k !== '') checkFields(k, (value as Record<string, unknown>)[k]);
  }
}

function readPolicyFile(file: string): PolicyFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    // The file's text is never quoted: it is configuration that could hold anything.
    throw new PolicyConfigError(POLICY_ENV.file, `${file} is not a readable JSON file (${(err as NodeJS.ErrnoException).code ?? 'invalid JSON'})`);
  }
  checkFields('', parsed);
  return parsed as PolicyFile;
}

const list = (v: string | undefined, sep: string | RegExp): string[] | undefined =>
  v === undefined ? undefined : v.split(sep).map((s) => s.trim()).filter((s) => s !== '');

function strings(setting: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new PolicyConfigError(setting, 'must be a list of strings');
  return v as string[];
}

function positiveInt(setting: string, v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new PolicyConfigError(setting, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

function bool(setting: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0' || v === '') return false;
  throw new PolicyConfigError(setting, `must be true or false, got ${JSON.stringify(v)}`);
}

function localRoots(setting: string, roots: string[]): LocalRoot[] {
  return roots.map((r) => {
    if (!path.isAbsolute(r)) throw new PolicyConfigError(setting, `'${r}' must be an absolute path`);
    const given = path.resolve(r);
    let real = given;
    try {
      real = fs.realpathSync(given);
    } catch {
      /* a root that does not exist yet grants nothing until it does; checks use realpath of the file */
    }
    return { given, real };
  });
}

function s3Prefixes(setting: string, entries: string[]): S3Prefix[] {
  return entries.map((e) => {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?(.*)$/.exec(e);
    if (!m) throw new PolicyConfigError(setting, `'${e}' must be an s3://bucket/prefix URI`);
    const prefix = m[2];
    if (prefix.split('/').some((s) => s === '.' || s === '..')) throw new PolicyConfigError(setting, `'${e}' must not contain '.' or '..' segments`);
    return { bucket: m[1], prefix };
  });
}

function cidrs(setting: string, entries: string[]): string[] {
  for (const c of entries) {
    try {
      ipaddr.parseCIDR(c.includes('/') ? c : `${c}/${ipaddr.parse(c).kind() === 'ipv4' ? 32 : 128}`);
    } catch {
      throw new PolicyConfigError(setting, `'${c}' is not an IP address or CIDR range`);
    }
  }
  return entries.map((c) => (c.includes('/') ? c : `${c}/${ipaddr.parse(c).kind() === 'ipv4' ? 32 : 128}`));
}

/** https and kaggle.com (or a subdomain) for the real endpoint; the test override must be a loopback address. */
function kaggleApiUrl(env: NodeJS.ProcessEnv, fromFile: string | undefined): string {
  const test = env[POLICY_ENV.testKaggleApiUrl];
  if (test) {
    let u: URL;
    try {
      u = new URL(test);
    } catch {
      throw new PolicyConfigError(POLICY_ENV.testKaggleApiUrl, 'is not a URL');
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (!(host === 'localhost' || (ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback'))) {
      throw new PolicyConfigError(POLICY_ENV.testKaggleApiUrl, 'is for tests and must point to a loopback address');
    }
    return test;
  }
  const url = env[POLICY_ENV.kaggleApiUrl] ?? fromFile ?? DEFAULT_KAGGLE_API_URL;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PolicyConfigError(POLICY_ENV.kaggleApiUrl, 'is not a URL');
  }
  if (u.protocol !== 'https:' || !(u.hostname === 'kaggle.com' || u.hostname.endsWith('.kaggle.com')) || u.username || u.password) {
    throw new PolicyConfigError(POLICY_ENV.kaggleApiUrl, 'must be an https URL on kaggle.com (the Kaggle key is sent there)');
  }
  return url;
}

/** Builds the policy from the environment (and the policy file it names); throws PolicyConfigError naming the setting. */
export function loadInputPolicy(env: NodeJS.ProcessEnv = process.env): InputPolicy {
  const file: PolicyFile = env[POLICY_ENV.file] ? readPolicyFile(env[POLICY_ENV.file]!) : {};
  const pick = <T>(envValue: T | undefined, fileValue: T | undefined, dflt: T): T => (envValue !== undefined ? envValue : fileValue !== undefined ? fileValue : dflt);
  const u = file.url ?? {};
  const envNum = (name: string) => (env[name] !== undefined && env[name] !== '' ? positiveInt(name, env[name]) : undefined);
  const fileNum = (name: string, v: unknown) => (v !== undefined ? positiveInt(name, v) : undefined);
  const datasetRoots = pick(list(env[POLICY_ENV.datasetRoots], path.delimiter), file.localRoots?.dataset && strings('localRoots.dataset', file.localRoots.dataset), []);
  const imageRoots = pick(list(env[POLICY_ENV.imageRoots], path.delimiter), file.localRoots?.image && strings('localRoots.image', file.localRoots.image), []);
  const read = list(env[POLICY_ENV.s3Read], ',') ?? (file.s3?.read && strings('s3.read', file.s3.read));
  const output = list(env[POLICY_ENV.s3Output], ',') ?? (file.s3?.output && strings('s3.output', file.s3.output));
  const allowPrivate = list(env[POLICY_ENV.allowPrivate], ',') ?? (u.allowPrivate && strings('url.allowPrivate', u.allowPrivate)) ?? [];
  return {
    localRoots: { dataset: localRoots(POLICY_ENV.datasetRoots, datasetRoots), image: localRoots(POLICY_ENV.imageRoots, imageRoots) },
    s3Read: read ? s3Prefixes(POLICY_ENV.s3Read, read) : [],
    s3Output: output ? s3Prefixes(POLICY_ENV.s3Output, output) : POLICY_DEFAULTS.s3Output,
    url: {
      allowHttp: env[POLICY_ENV.allowHttp] !== undefined ? bool(POLICY_ENV.allowHttp, env[POLICY_ENV.allowHttp]) : u.allowHttp !== undefined ? bool('url.allowHttp', u.allowHttp) : POLICY_DEFAULTS.url.allowHttp,
      allowPrivate: cidrs(POLICY_ENV.allowPrivate, allowPrivate),
      maxRedirects: envNum(POLICY_ENV.maxRedirects) ?? fileNum('url.maxRedirects', u.maxRedirects) ?? POLICY_DEFAULTS.url.maxRedirects,
      connectTimeoutMs: envNum(POLICY_ENV.connectTimeoutMs) ?? fileNum('url.connectTimeoutMs', u.connectTimeoutMs) ?? POLICY_DEFAULTS.url.connectTimeoutMs,
      idleTimeoutMs: envNum(POLICY_ENV.idleTimeoutMs) ?? fileNum('url.idleTimeoutMs', u.idleTimeoutMs) ?? POLICY_DEFAULTS.url.idleTimeoutMs,
      imageTimeoutMs: envNum(POLICY_ENV.imageTimeoutMs) ?? fileNum('url.imageTimeoutMs', u.imageTimeoutMs) ?? POLICY_DEFAULTS.url.imageTimeoutMs,
      maxBytes: envNum(POLICY_ENV.maxBytes) ?? fileNum('url.maxBytes', u.maxBytes) ?? POLICY_DEFAULTS.url.maxBytes,
    },
    kaggleApiUrl: kaggleApiUrl(env, file.kaggleApiUrl),
    archive: {
      maxTotalBytes: envNum(POLICY_ENV.archiveMaxBytes) ?? fileNum('archive.maxTotalBytes', file.archive?.maxTotalBytes) ?? POLICY_DEFAULTS.archive.maxTotalBytes,
      maxEntries: envNum(POLICY_ENV.archiveMaxEntries) ?? fileNum('archive.maxEntries', file.archive?.maxEntries) ?? POLICY_DEFAULTS.archive.maxEntries,
    },
  };
}

let cached: { key: string; policy: InputPolicy } | undefined;

/** The policy of this process's environment, rebuilt only when a policy variable changes. */
export function inputPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): InputPolicy {
  const key = JSON.stringify(Object.values(POLICY_ENV).map((n) => env[n] ?? null));
  if (cached?.key !== key) cached = { key, policy: loadInputPolicy(env) };
  return cached.policy;
}

/** The CLI's in-process verify runs as its caller: it may read the caller's own files. */
export function callerInputPolicy(policy: InputPolicy = inputPolicyFromEnv()): InputPolicy {
  return { ...policy, localRoots: { ...policy.localRoots, image: [{ given: path.parse(process.cwd()).root, real: path.parse(process.cwd()).root }] } };
}
