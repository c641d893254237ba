/** Pair-set bookkeeping: checksums (to tell whether two evaluations used the same pairs) and counts. */
import { createHash } from 'node:crypto';
import { badInput } from '../errors';
import type { Pair, PairSetSummary } from './types';

export function pairsChecksum(pairs: readonly Pair[]): string {
  const hash = createHash('sha256');
  for (const p of pairs) hash.update(`${p.a}\t${p.b}\t${p.label}\n`);
  return hash.digest('hex');
}

export function checkPairs(pairs: readonly Pair[], what: string): void {
  pairs.forEach((p, i) => {
    if (typeof p.a !== 'string' || typeof p.b !== 'string' || !p.a || !p.b) {
      throw badInput(`${what} pair ${i}: image ids must be non-empty strings, got a=${JSON.stringify(p.a)} b=${JSON.stringify(p.b)}`);
    }
    if (p.label !== 0 && p.label !== 1) throw badInput(`${what} pair ${i} (${p.a}, ${p.b}): label must be 0 or 1, got ${JSON.stringify(p.label)}`);
  });
}

export function summarizePairs(pairs: readonly Pair[], identityOf?: (imageId: string) => string | undefined): PairSetSummary {
  const images = new Set<string>();
  let genuine = 0;
  for (const p of pairs) {
    images.add(p.a);
    images.add(p.b);
    if (p.label === 1) genuine++;
  }
  let identities: number | null = null;
  if (identityOf) {
    const ids = new Set<string>();
    for (const image of images) {
      const id = identityOf(image);
      if (id !== undefined) ids.add(id);
    }
    identities = ids.size;
  }
  return { checksum: pairsChecksum(pairs), pairs: pairs.length, genuine, impostor: pairs.length - genuine, images: images.size, identities };
}

/** Identity of an image id laid out as `<identity>/<file>` (the layout of the shared face sets and image folders). */
export function identityFromPath(imageId: string): string | undefined {
  const slash = imageId.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const dir = imageId.slice(0, slash);
  return dir.slice(dir.lastIndexOf('/') + 1);
}
