/**
 * Balanced same/different pair generation within one split (pure: no I/O), from a seed.
 * Same-person pairs are drawn round-robin over identities so big identities do not dominate; an image is
 * never paired with itself; identities with a single image only appear in different-person pairs.
 */
import { createHash } from 'node:crypto';

export interface Pair {
  a: string;
  b: string;
  /** 1 = same identity, 0 = different. */
  label: 0 | 1;
}

export interface PairCounts {
  same: number;
  different: number;
}

/** Small fast PRNG (sfc32) seeded from a string: reproducible on every platform. */
export function seededRandom(seed: string): () => number {
  const h = createHash('sha256').update(seed).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

const pairKey = (a: string, b: string) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);

/**
 * Makes up to `count` pairs, half same and half different (odd counts give the extra one to different pairs).
 * When the identities cannot supply enough distinct same-person pairs, different pairs are cut to match so the
 * result stays balanced. `imagesByIdentity` values must be distinct image ids.
 */
export function makePairs(imagesByIdentity: Map<string, string[]>, count: number, seed: string): { pairs: Pair[]; counts: PairCounts } {
  const rand = seededRandom(seed);
  // Sorted first so the output depends only on the content, not on map insertion order.
  const identities = [...imagesByIdentity.keys()].sort();
  const images = new Map(identities.map((id) => [id, [...new Set(imagesByIdentity.get(id)!)].sort()]));
  const wantSame = Math.floor(count / 2);

  const same: Pair[] = [];
  const used = new Set<string>();
  const multi = shuffle(identities.filter((id) => images.get(id)!.length >= 2), rand);
  const capacity = new Map(multi.map((id) => [id, (images.get(id)!.length * (images.get(id)!.length - 1)) / 2]));
  const taken = new Map<string, number>();
  let active = multi;
  while (same.length < wantSame && active.length) {
    for (const id of active) {
      if (same.length >= wantSame) break;
      const imgs = images.get(id)!;
      // Random draws, then an exhaustive scan once the identity is nearly used up.
      let found: [string, string] | null = null;
      for (let tries = 0; tries < 8 && !found; tries++) {
        const i = Math.floor(rand() * imgs.length);
        let j = Math.floor(rand() * (imgs.length - 1));
        if (j >= i) j++;
        if (!used.has(pairKey(imgs[i], imgs[j]))) found = [imgs[i], imgs[j]];
      }
      if (!found) {
        outer: for (let i = 0; i < imgs.length; i++) {
          for (let j = i + 1; j < imgs.length; j++) {
            if (!used.has(pairKey(imgs[i], imgs[j]))) {
              found = rand() < 0.5 ? [imgs[i], imgs[j]] : [imgs[j], imgs[i]];
              break outer;
            }
          }
        }
      }
      if (!found) continue;
      used.add(pairKey(found[0], found[1]));
      same.push({ a: found[0], b: found[1], label: 1 });
      taken.set(id, (taken.get(id) ?? 0) + 1);
    }
    active = active.filter((id) => (taken.get(id) ?? 0) < capacity.get(id)!);
  }

  const wantDifferent = same.length < wantSame ? same.length : count - wantSame;
  const different: Pair[] = [];
  if (identities.length >= 2) {
    const maxAttempts = wantDifferent * 20 + 100;
    for (let attempt = 0; different.length < wantDifferent && attempt < maxAttempts; attempt++) {
      const i = Math.floor(rand() * identities.length);
      let j = Math.floor(rand() * (identities.length - 1));
      if (j >= i) j++;
      const ia = images.get(identities[i])!;
      const ib = images.get(identities[j])!;
      const a = ia[Math.floor(rand() * ia.length)];
      const b = ib[Math.floor(rand() * ib.length)];
      const k = pairKey(a, b);
      if (used.has(k)) continue;
      used.add(k);
      different.push({ a, b, label: 0 });
    }
  }
  const pairs = shuffle([...same, ...different], rand);
  return { pairs, counts: { same: same.length, different: different.length } };
}
