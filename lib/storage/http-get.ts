/**
 * A GET that a workflow input cannot turn against the worker: every hop (the URL and each redirect, at most
 * `maxRedirects`) is checked by the URL policy after DNS resolution and connected to that checked address; connect and
 * idle timeouts; Content-Length checked before the body is read and a byte cap while it streams; an Authorization
 * header goes only to the first URL's origin. Hand-written over node:http because fetch() can neither pin the
 * resolved address nor check each redirect before following it. Only lib/storage/open-location.ts calls it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { SiamfaceError, forbidden } from '../errors';
import { redactUrl } from '../redact';
import { POLICY_ENV, type UrlPolicy } from '../security/input-policy';
import { checkUrlDestination, systemResolver, type ResolvedAddress, type Resolver } from '../security/url-destination';

export interface HttpGetOptions {
  policy: UrlPolicy;
  /** Names the input in errors (e.g. 'identity file', 'image'). */
  what: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Cap for this kind of file (never above the policy's). */
  maxBytes?: number;
  resolve?: Resolver;
  /** Maps a non-2xx answer to an error (default: httpError). */
  httpError?: (status: number, url: string) => SiamfaceError;
  /**
   * Whole-download deadline (redirects, headers and body), so a server trickling bytes under the idle timeout cannot
   * hold the caller; `setting` names what sets it, for the message. None by default.
   */
  timeout?: { ms: number; setting: string };
}

/**
 * A download that did not complete for a network reason: retryable ('transient') for callers that retry whole
 * downloads; `reason` lets a caller that must not retry (a batch row's image) say which it was.
 */
export class FetchError extends SiamfaceError {
  constructor(
    readonly reason: 'unreachable' | 'timeout' | 'broken' | 'server_error',
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super('transient', message, { cause: opts.cause, permanent: false, details: { fetch: reason } });
    this.name = 'FetchError';
  }
}

export interface HttpBody {
  stream: Readable;
  /** Bytes of this response's body (Content-Length), when declared. */
  size?: number;
  /** Identifies the version of the resource (a strong ETag, else Last-Modified): a resumed download sends it as If-Range. */
  validator?: string;
  /** A 206 answer to a Range request: where this body starts and the whole resource's size. */
  range?: { start: number; total?: number };
}

/** `bytes <start>-<end>/<total|*>` of a 206 answer. */
export function parseContentRange(header: string | undefined): { start: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), ...(m[3] === '*' ? {} : { total: Number(m[3]) }) };
}

const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export async function httpGet(url: string, o: HttpGetOptions): Promise<HttpBody> {
  const cap = Math.min(o.maxBytes ?? Infinity, o.policy.maxBytes);
  const firstOrigin = new URL(url).origin;
  let current = new URL(url);
  let headers = { ...(o.headers ?? {}) };
  const deadline = o.timeout?.ms ? Date.now() + o.timeout.ms : undefined;
  for (let hop = 0; ; hop++) {
    const pinned = (await checkUrlDestination(o.policy, current, hop === 0 ? o.what : `${o.what} (redirected)`, o.resolve ?? systemResolver))!;
    const res = await request(current, pinned, headers, o, deadline);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= o.policy.maxRedirects) {
        throw forbidden(`${o.what} ${redactUrl(url)} is refused: more than ${o.policy.maxRedirects} redirects (${POLICY_ENV.maxRedirects})`, { rule: 'max-redirects' });
      }
      current = new URL(res.headers.location, current);
      // Credentials meant for the first origin never follow a redirect elsewhere (Kaggle -> signed storage URL).
      if (current.origin !== firstOrigin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k.toLowerCase())));
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw (o.httpError ?? httpError)(status, current.toString());
    }
    const declared = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
    const range = status === 206 ? parseContentRange(res.headers['content-range']) : undefined;
    if (status === 206 && !range) {
      res.destroy();
      throw new SiamfaceError('transient', `${o.what} ${redactUrl(url)}: a partial answer (206) without a usable Content-Range`, { permanent: false });
    }
    // A resumed download counts its whole size, not only the rest it fetches now.
    const whole = range?.total ?? (declared !== undefined ? declared + (range?.start ?? 0) : undefined);
    if (whole !== undefined && whole > cap) {
      res.destroy();
      throw new SiamfaceError('bad_input', `${o.what} ${redactUrl(url)} is ${whole} bytes, above the ${cap}-byte limit (${POLICY_ENV.maxBytes})`, { details: { rule: 'max-bytes' } });
    }
    const etag = res.headers.etag;
    const validator = etag && !etag.startsWith('W/') ? etag : (res.headers['last-modified'] ?? undefined);
    return { stream: res.pipe(byteCap(cap - (range?.start ?? 0), o.what, url, res)), size: declared, validator, range };
  }
}

function request(url: URL, pinned: ResolvedAddress, headers: Record<string, string>, o: HttpGetOptions, deadline?: number): Promise<http.IncomingMessage> {
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
    else cb(null, pinned.address, pinned.family);
  };
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let response: http.IncomingMessage | undefined;
    const req = mod.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { 'user-agent': 'siamface', ...headers },
        ...(url.username ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` } : {}),
        lookup,
        signal: o.signal,
        agent: false,
      },
      (res) => {
        response = res;
        res.once('close', () => clearTimeout(deadlineTimer));
        res.on('error', () => undefined); // reported through the byte cap's stream
        resolve(res);
      },
    );
    const shown = redactUrl(url.toString());
    const fail = (why: string) => {
      const err = new FetchError('timeout', `${o.what} ${shown}: ${why}`);
      response?.destroy(err); // a body already streaming fails with this error, not a bare 'aborted'
      req.destroy(err);
    };
    const connectTimer = setTimeout(() => fail(`no connection within ${o.policy.connectTimeoutMs} ms (${POLICY_ENV.connectTimeoutMs})`), o.policy.connectTimeoutMs);
    // Runs on while the body streams: cleared only when the response closes (or the request fails).
    const deadlineTimer =
      deadline !== undefined ? setTimeout(() => fail(`not complete within ${o.timeout!.ms} ms (${o.timeout!.setting})`), Math.max(0, deadline - Date.now())) : undefined;
    deadlineTimer?.unref();
    req.once('socket', (s) => {
      s.once('connect', () => clearTimeout(connectTimer));
      // Idle: no bytes either way for this long, while connecting, waiting for headers or streaming the body.
      s.setTimeout(o.policy.idleTimeoutMs, () => fail(`no data for ${o.policy.idleTimeoutMs} ms (${POLICY_ENV.idleTimeoutMs})`));
    });
    req.once('close', () => clearTimeout(connectTimer));
    req.once('error', (err) => {
      clearTimeout(connectTimer);
      if (!response) clearTimeout(deadlineTimer);
      if (o.signal?.aborted) return reject(err);
      reject(err instanceof SiamfaceError ? err : new FetchError('unreachable', `cannot reach ${shown}: ${(err as Error).message}`, { cause: err }));
    });
    req.end();
  });
}

/** Passes bytes through and fails the stream once more than `cap` have arrived (a body longer than it said, or none said). */
function byteCap(cap: number, what: string, url: string, res: http.IncomingMessage): Transform {
  let seen = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > cap) {
        cb(new SiamfaceError('bad_input', `${what} ${redactUrl(url)} sent more than the ${cap}-byte limit (${POLICY_ENV.maxBytes})`, { details: { rule: 'max-bytes' } }));
        res.destroy();
        return;
      }
      cb(null, chunk);
    },
  });
  res.once('error', (err) => {
    if (!t.destroyed) t.destroy(err);
  });
  // Deferred: when we cut the body ourselves (cap, idle timeout), that error wins over the bare 'aborted'.
  res.once('aborted', () =>
    setImmediate(() => {
      if (!t.destroyed) t.destroy(new FetchError('broken', `${what} ${redactUrl(url)}: the connection broke off after ${seen} bytes`));
    }),
  );
  return t;
}

export function httpError(status: number, url: string): SiamfaceError {
  const where = redactUrl(url);
  if (status === 401 || status === 403) return new SiamfaceError('bad_credentials', `${where} answered ${status}: check the credentials (an expired signed URL answers this too)`);
  if (status === 404) return new SiamfaceError('not_found', `${where} answered 404: not found`);
  if (status === 429 || status >= 500) return new FetchError('server_error', `${where} answered ${status}`);
  return new SiamfaceError('bad_input', `${where} answered ${status}`);
}
