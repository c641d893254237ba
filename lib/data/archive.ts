/**
 * Reads zip and tar(.gz) archives from a local file, entry by entry, without holding the archive in memory.
 * Safety: every entry name is checked before anything is extracted (zip-slip: absolute paths and `..` reject the
 * whole archive), symlinks, hard links and devices are skipped rather than followed, and entry sizes are capped.
 * Bombs: the total uncompressed size and the entry count are capped too, checked while listing (before anything is
 * extracted), so a zip or tar(.gz) that expands far beyond its size is refused whole.
 */
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as yauzl from 'yauzl';
import * as tar from 'tar-stream';
import { SiamfaceError, badInput } from '../errors';

export type ArchiveKind = 'zip' | 'tar' | 'tar.gz';

export interface ArchiveEntryInfo {
  /** Normalised relative POSIX path. */
  path: string;
  size: number;
  /** Zip entries: where the entry's bytes are in the archive (for ranged reads of the archive kept whole). */
  zip?: ZipEntryPlace;
}

/** A zip entry's place in its archive, from the central directory; `zipDataOffset` finds where its data starts. */
export interface ZipEntryPlace {
  localHeaderOffset: number;
  compressedSize: number;
  /** 0 stored, 8 deflated (the only methods yauzl reads). */
  method: number;
  crc32: number;
}

/**
 * Where an entry's data starts: after its local header (30 bytes, then the name and an extra field whose length
 * may differ from the central directory's, so it is read from the local header itself).
 */
export async function zipDataOffset(fd: fs.promises.FileHandle, place: ZipEntryPlace, displayName: string): Promise<number> {
  const header = Buffer.alloc(30);
  const { bytesRead } = await fd.read(header, 0, 30, place.localHeaderOffset);
  if (bytesRead !== 30 || header.readUInt32LE(0) !== 0x04034b50) throw badInput(`${displayName}: no local file header at offset ${place.localHeaderOffset}`);
  return place.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
}

export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface ArchiveLimits {
  /** Sum of all entries' uncompressed sizes. */
  maxTotalBytes?: number;
  /** Entries of any kind (files, folders, links). */
  maxEntries?: number;
}

export interface ArchiveOptions extends ArchiveLimits {
  /** Entries larger than this (uncompressed) are skipped: a guard against zip bombs. */
  maxEntryBytes?: number;
  signal?: AbortSignal;
}

export const DEFAULT_MAX_ENTRY_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_TOTAL_BYTES = 32 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 1_000_000;

/**
 * Returns the entry's normalised relative path, or throws a permanent 'unsafe_archive' error for names that
 * could escape the extraction root (absolute paths, drive letters, `..` segments, NUL bytes).
 */
export function safeEntryPath(name: string, archiveName = 'archive'): string {
  const unsafe = (why: string) =>
    new SiamfaceError('unsafe_archive', `${archiveName} entry '${name.replace(/\0/g, '\\0')}' is rejected: ${why}; nothing was extracted from this archive`);
  if (name.includes('\0')) throw unsafe('the name contains a NUL byte');
  const unified = name.replace(/\\/g, '/');
  if (unified.startsWith('/')) throw unsafe('absolute path');
  if (/^[a-zA-Z]:/.test(unified)) throw unsafe('absolute path with a drive letter');
  const segments = unified.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) throw unsafe("the path contains '..'");
  return segments.join('/');
}

export async function detectArchiveKind(file: string, displayName: string): Promise<ArchiveKind> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fd.read(buf, 0, 512, 0);
    if (bytesRead >= 4 && buf.readUInt32LE(0) === 0x04034b50) return 'zip';
    if (bytesRead >= 4 && buf.readUInt32LE(0) === 0x06054b50) return 'zip'; // empty zip
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'tar.gz';
    if (bytesRead >= 262 && buf.toString('latin1', 257, 262) === 'ustar') return 'tar';
  } finally {
    await fd.close();
  }
  throw badInput(`${displayName} is neither a zip nor a tar archive`);
}

/**
 * Checks every entry name (throws 'unsafe_archive' on the first bad one) and the bomb caps (entry count, total
 * uncompressed size: 'unsafe_archive' as soon as one is passed) and lists the regular files.
 */
export async function listArchive(file: string, displayName: string, signal?: AbortSignal, limits: ArchiveLimits = {}): Promise<ArchiveEntryInfo[]> {
  const kind = await detectArchiveKind(file, displayName);
  const walk = kind === 'zip' ? walkZip : walkTar;
  const maxTotal = limits.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const entries: ArchiveEntryInfo[] = [];
  let count = 0;
  let total = 0;
  const refuse = (why: string) => new SiamfaceError('unsafe_archive', `${displayName} is refused: ${why}; nothing was extracted from this archive`, { details: { rule: 'archive-limits' } });
  await walk(file, kind, displayName, async (raw) => {
    const p = safeEntryPath(raw.name, displayName);
    if (++count > maxEntries) throw refuse(`it has more than ${maxEntries} entries (SIAMFACE_ARCHIVE_MAX_ENTRIES)`);
    total += raw.size;
    if (total > maxTotal) throw refuse(`its entries expand to more than ${maxTotal} bytes (SIAMFACE_ARCHIVE_MAX_BYTES)`);
    if (raw.type === 'file' && p !== '') entries.push({ path: p, size: raw.size });
  }, signal);
  return entries;
}

type EntryVisitor = (entry: ArchiveEntryInfo, open: () => Promise<Readable>) => Promise<void>;

/**
 * Walks the archive twice: first checks every name (so an unsafe archive writes nothing), then calls `visit`
 * for each regular file in archive order. Returns the entries that were skipped and why.
 */
export async function readArchive(file: string, displayName: string, visit: EntryVisitor, opts: ArchiveOptions = {}): Promise<{ kind: ArchiveKind; skipped: SkippedEntry[] }> {
  const kind = await detectArchiveKind(file, displayName);
  const maxBytes = opts.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
  const walk = kind === 'zip' ? walkZip : walkTar;
  await listArchive(file, displayName, opts.signal, opts);
  const skipped: SkippedEntry[] = [];
  await walk(file, kind, displayName, async (raw) => {
    const p = safeEntryPath(raw.name, displayName);
    if (raw.type === 'directory' || p === '') return;
    if (raw.type !== 'file') {
      skipped.push({ path: p, reason: `${raw.type} entry not followed` });
      return;
    }
    if (raw.size > maxBytes) {
      skipped.push({ path: p, reason: `entry is ${raw.size} bytes, above the ${maxBytes}-byte limit` });
      return;
    }
    await visit({ path: p, size: raw.size, ...(raw.zip ? { zip: raw.zip } : {}) }, raw.open);
  }, opts.signal);
  return { kind, skipped };
}

interface RawEntry {
  name: string;
  size: number;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  open: () => Promise<Readable>;
  zip?: ZipEntryPlace;
}

function walkZip(file: string, _kind: ArchiveKind, displayName: string, onEntry: (e: RawEntry) => Promise<void>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    // decodeStrings:false so that our own name check (not yauzl's) decides and reports unsafe names.
    yauzl.open(file, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(badInput(`${displayName} is not a readable zip archive: ${err?.message ?? 'unknown error'}`));
      let failed = false;
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        zip.close();
        reject(e);
      };
      zip.on('error', (e: Error) => fail(badInput(`${displayName} is a damaged zip archive: ${e.message}`)));
      zip.on('end', () => {
        if (!failed) resolve();
      });
      zip.on('entry', (entry: yauzl.Entry) => {
        if (signal?.aborted) return fail(signal.reason ?? new Error('cancelled'));
        const nameBuf = entry.fileName as unknown as Buffer;
        const name = Buffer.isBuffer(nameBuf) ? nameBuf.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? 'utf8' : 'latin1') : String(nameBuf);
        const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
        const type: RawEntry['type'] = name.endsWith('/') ? 'directory' : mode === 0o120000 ? 'symlink' : mode !== 0 && mode !== 0o100000 ? 'other' : 'file';
        const open = () =>
          new Promise<Readable>((res, rej) =>
            zip.openReadStream(entry, (e, s) => (e || !s ? rej(badInput(`${displayName} entry '${name}' cannot be read: ${e?.message}`)) : res(s))),
          );
        const zipPlace: ZipEntryPlace = { localHeaderOffset: entry.relativeOffsetOfLocalHeader, compressedSize: entry.compressedSize, method: entry.compressionMethod, crc32: entry.crc32 };
        onEntry({ name, size: entry.uncompressedSize, type, open, zip: zipPlace }).then(
          () => zip.readEntry(),
          (e) => fail(e),
        );
      });
      zip.readEntry();
    });
  });
}

async function walkTar(file: string, kind: ArchiveKind, displayName: string, onEntry: (e: RawEntry) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const extract = tar.extract();
  const source: Readable = kind === 'tar.gz' ? fs.createReadStream(file).pipe(createGunzip()) : fs.createReadStream(file);
  source.on('error', (e) => extract.destroy(badInput(`${displayName} cannot be decompressed: ${e.message}`)));
  source.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
      const h = entry.header;
      const type: RawEntry['type'] =
        h.type === 'file' || h.type === 'contiguous-file' ? 'file' : h.type === 'directory' ? 'directory' : h.type === 'symlink' ? 'symlink' : h.type === 'link' ? 'link' : 'other';
      let consumed = false;
      await onEntry({
        name: h.name,
        size: h.size ?? 0,
        type,
        open: async () => {
          consumed = true;
          return entry as unknown as Readable;
        },
      });
      // tar-stream needs each entry drained before it emits the next one.
      if (!consumed) entry.resume();
      else if (!entry.destroyed && !(entry as unknown as Readable).readableEnded) entry.resume();
    }
  } catch (err) {
    source.destroy();
    if (err instanceof SiamfaceError || signal?.aborted) throw err;
    throw badInput(`${displayName} is a damaged tar archive: ${(err as Error).message}`);
  } finally {
    source.destroy();
  }
}
