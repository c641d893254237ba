/**
 * CelebA's identity_CelebA.txt: one `<file> <identity_id>` per line, no header (the official file).
 * Some copies start with an `image identity` header line; it is accepted and ignored.
 */
import { createHash } from 'node:crypto';
import { badInput, SiamfaceError } from '../errors';

/** MD5 of the official identity_CelebA.txt (10,177 identities, 202,599 lines). */
export const OFFICIAL_IDENTITY_FILE_MD5 = '32bd1bd63d3c78cd57e08160ec5ed1e2';

/** Maps image file name (e.g. `000001.jpg`) to identity id as written in the file (e.g. `2880`). */
export type IdentityMap = Map<string, string>;

export function parseIdentityFile(text: string, fileName: string): IdentityMap {
  const map: IdentityMap = new Map();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    if (i === 0 && parts.length === 2 && /^image$/i.test(parts[0]) && /^identity/i.test(parts[1])) continue;
    // Messages say where and what is wrong, never what the line holds: a wrong file could be anyone's secret.
    if (parts.length !== 2) throw badInput(`${fileName} line ${i + 1}: expected '<file> <identity_id>', got ${parts.length} fields`);
    const [file, identity] = parts;
    if (!/^\d+$/.test(identity)) throw badInput(`${fileName} line ${i + 1}: the identity id (second field) is not a number`);
    if (file.includes('/') || file.includes('\\') || file === '..' || file === '.') {
      throw badInput(`${fileName} line ${i + 1}: the file name (first field) must be a plain file name, without '/', '\\' or '..'`);
    }
    const prev = map.get(file);
    if (prev !== undefined && prev !== identity) {
      throw badInput(`${fileName} line ${i + 1}: the image is labelled with another identity than on an earlier line`);
    }
    map.set(file, identity);
  }
  if (map.size === 0) throw badInput(`${fileName} has no '<file> <identity_id>' lines`);
  return map;
}

export function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** Throws a permanent checksum_mismatch naming the file when its MD5 is not the expected one. */
export function checkIdentityFileMd5(data: Buffer, fileName: string, expectedMd5: string): void {
  const got = md5Hex(data);
  if (got !== expectedMd5.toLowerCase()) {
    throw new SiamfaceError(
      'checksum_mismatch',
      `${fileName} has MD5 ${got}, expected ${expectedMd5.toLowerCase()}: it is not the expected identity_CelebA.txt (set identityFileMd5 if you use another copy on purpose)`,
    );
  }
}
