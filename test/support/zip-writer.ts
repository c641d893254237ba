/**
 * A tiny zip writer for tests (stored or deflated entries, optional symlink entries, any entry name, including
 * unsafe ones such as `../evil` that real zip tools refuse to write). Streams entries to a file.
 */
import * as fs from 'node:fs';
import { deflateRawSync, crc32 } from 'node:zlib';

export interface ZipEntryInput {
  name: string;
  data: Buffer;
  /** Deflate the data (default true for data over 1 KiB). */
  deflate?: boolean;
  symlink?: boolean;
}

export class ZipFileWriter {
  private fd: number;
  private offset = 0;
  private central: Buffer[] = [];
  private count = 0;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w');
  }

  add(entry: ZipEntryInput): void {
    const name = Buffer.from(entry.name, 'utf8');
    const deflate = entry.deflate ?? entry.data.length > 1024;
    const body = deflate ? deflateRawSync(entry.data) : entry.data;
    const crc = crc32(entry.data) >>> 0;
    const method = deflate ? 8 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const headerOffset = this.offset;
    this.write(local);
    this.write(name);
    this.write(body);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so external attributes carry the mode
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0x800, 8);
    cd.writeUInt16LE(method, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(entry.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    const mode = entry.symlink ? 0o120777 : entry.name.endsWith('/') ? 0o40755 : 0o100644;
    cd.writeUInt32LE((mode << 16) >>> 0, 38);
    cd.writeUInt32LE(headerOffset, 42);
    this.central.push(cd, name);
    this.count++;
  }

  close(): void {
    const cdStart = this.offset;
    for (const b of this.central) this.write(b);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(this.count, 8);
    eocd.writeUInt16LE(this.count, 10);
    eocd.writeUInt32LE(this.offset - cdStart, 12);
    eocd.writeUInt32LE(cdStart, 16);
    this.write(eocd);
    fs.closeSync(this.fd);
  }

  private write(b: Buffer) {
    fs.writeSync(this.fd, b);
    this.offset += b.length;
  }
}

export function writeZip(file: string, entries: ZipEntryInput[]): void {
  const w = new ZipFileWriter(file);
  for (const e of entries) w.add(e);
  w.close();
}
