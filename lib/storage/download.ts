/**
 * THE one way to download a location to a local file (dataset archives, Kaggle's archive). The location passes the
 * input policy in openLocation (URL destinations, every redirect checked again, byte caps, timeouts). Bytes go to
 * `<file>.part`, which is fsynced, closed and only then renamed to `<file>`: a half-written download never has the
 * final name, so a file found under it is complete.
 *
 * An http(s) download that breaks off resumes where it stopped on the next call (an activity retry), when the server
 * supports it: the `.part` is kept with `<file>.part.json` (a hash of the URL and the resource's validator: strong
 * ETag or Last-Modified), and the next call asks for the rest with `Range` + `If-Range`. A server that ignores the
 * range, or whose resource changed, answers 200 with the whole body, which replaces the `.part`. Without a validator
 * nothing is kept: bytes of two versions of a file are never joined.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SiamfaceError } from '../errors';
import { redactUrl } from '../redact';
import { openLocation, type OpenOptions } from './open-location';

export interface DownloadOptions extends OpenOptions {
  /** Names the download in errors (`download of <label> ended after ...`); default the redacted URL. */
  label?: string;
  /** Called as bytes arrive, with the declared size when the source gave one. */
  onBytes?: (bytes: number, total?: number) => void;
  /** Replaces an error of the stream or the file that is neither a SiamfaceError nor an abort; default: thrown as is. */
  brokenOff?: (err: Error, bytes: number) => Error;
}

interface PartState {
  /** sha256 of the URL (the URL itself may carry a signature). */
  url: string;
  validator: string;
}

const urlHash = (url: string) => createHash('sha256').update(url).digest('hex');

async function resumableBytes(part: string, url: string): Promise<{ bytes: number; validator: string } | undefined> {
  try {
    const state = JSON.parse(await fs.promises.readFile(`${part}.json`, 'utf8')) as PartState;
    const { size } = await fs.promises.stat(part);
    return state.url === urlHash(url) && typeof state.validator === 'string' && size > 0 ? { bytes: size, validator: state.validator } : undefined;
  } catch {
    return undefined; // no state, or no .part: start from the first byte
  }
}

export async function downloadToFile(url: string, file: string, opts: DownloadOptions = {}): Promise<{ bytes: number; resumedFrom?: number }> {
  const label = opts.label ?? redactUrl(url);
  const part = `${file}.part`;
  const state = `${part}.json`;
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const http = /^https?:/i.test(url);
  const resume = http ? await resumableBytes(part, url) : undefined;
  const headers = resume ? { ...opts.headers, range: `bytes=${resume.bytes}-`, 'if-range': resume.validator } : opts.headers;
  // Nothing awaited between opening and the first read below: an error the body emits in between would have no listener.
  const { stream, size, validator, range } = await openLocation(url, { ...opts, headers });
  const start = range?.start ?? 0;
  if (range && range.start !== (resume?.bytes ?? 0)) {
    stream.destroy();
    await forget(part);
    throw new SiamfaceError('transient', `download of ${label}: asked for bytes from ${resume?.bytes ?? 0}, got a range from ${range.start}; starting over`, { permanent: false });
  }
  const total = range?.total ?? (size !== undefined ? start + size : undefined);
  // The first read is asked for now: from then on the iterator listens for the body's errors, so awaiting below is safe.
  const chunks = stream[Symbol.asyncIterator]();
  let nextChunk = chunks.next();
  nextChunk.catch(() => undefined);
  const onAbort = () => stream.destroy(Object.assign(new Error('the download was cancelled'), { name: 'AbortError' }));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let bytes = start;
  let out: fs.promises.FileHandle | undefined;
  try {
    if (opts.signal?.aborted) onAbort();
    // A later call may resume only what this answer's version wrote.
    if (http && validator) await fs.promises.writeFile(state, JSON.stringify({ url: urlHash(url), validator } satisfies PartState));
    else await fs.promises.rm(state, { force: true });
    out = await fs.promises.open(part, start > 0 ? 'a' : 'w');
    // Each chunk is on its way to the disk before the next is read: bytes received before a break are kept to resume.
    for (let c = await nextChunk; !c.done; c = await nextChunk) {
      nextChunk = chunks.next();
      nextChunk.catch(() => undefined);
      await out.write(c.value as Buffer);
      bytes += (c.value as Buffer).length;
      opts.onBytes?.(bytes, total);
    }
    // On disk before it gets the final name.
    await out.sync();
  } catch (err) {
    stream.destroy();
    await out?.close().catch(() => undefined);
    out = undefined;
    // Kept for the next call to resume when the server named the version; otherwise nothing half-written stays.
    if (!(http && validator)) await forget(part);
    if (opts.brokenOff && !opts.signal?.aborted && !(err instanceof SiamfaceError)) throw opts.brokenOff(err as Error, bytes);
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await out?.close();
  }
  if (total !== undefined && bytes !== total) {
    await forget(part);
    throw new SiamfaceError('transient', `download of ${label} ended after ${bytes} of ${total} bytes`, { permanent: false });
  }
  await fs.promises.rename(part, file);
  await fs.promises.rm(state, { force: true });
  return { bytes, ...(range ? { resumedFrom: start } : {}) };
}

async function forget(part: string): Promise<void> {
  await Promise.all([fs.promises.rm(part, { force: true }), fs.promises.rm(`${part}.json`, { force: true })]);
}
