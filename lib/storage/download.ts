/**
 * THE one way to download a location to a local file (dataset archives, Kaggle's archive). The location passes the
 * input policy in openLocation (URL destinations, every redirect checked again, byte caps, timeouts). Bytes go to
 * `<file>.part`, which is fsynced, closed and only then renamed to `<file>`: a half-written download never has the
 * final name, so a file found under it is complete.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
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

export async function downloadToFile(url: string, file: string, opts: DownloadOptions = {}): Promise<{ bytes: number }> {
  const label = opts.label ?? redactUrl(url);
  const part = `${file}.part`;
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  // Nothing awaited between opening and piping: an error the body emits in between would have no listener.
  const { stream, size } = await openLocation(url, opts);
  let bytes = 0;
  stream.on('data', (c: Buffer) => {
    bytes += c.length;
    opts.onBytes?.(bytes, size);
  });
  try {
    await pipeline(stream, fs.createWriteStream(part), { signal: opts.signal });
    // On disk before it gets the final name (fsync of any descriptor flushes the file).
    const written = await fs.promises.open(part, 'r');
    try {
      await written.sync();
    } finally {
      await written.close();
    }
  } catch (err) {
    await fs.promises.rm(part, { force: true });
    if (opts.brokenOff && !opts.signal?.aborted && !(err instanceof SiamfaceError)) throw opts.brokenOff(err as Error, bytes);
    throw err;
  }
  if (size !== undefined && bytes !== size) {
    await fs.promises.rm(part, { force: true });
    throw new SiamfaceError('transient', `download of ${label} ended after ${bytes} of ${size} bytes`, { permanent: false });
  }
  await fs.promises.rename(part, file);
  return { bytes };
}
