/**
 * Identity-disjoint train/val/test split. Every stage that needs a split (shards, pairs)
 * calls this with the same identities and seed, so they agree.
 */
import { createHash } from 'node:crypto';
import { badInput } from '../errors';
import type { Split } from './celeba-partition';

export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

export const DEFAULT_SPLIT_FRACTIONS: SplitFractions = { train: 0.8, val: 0.1, test: 0.1 };

/**
 * Orders identities by a hash of (seed, identity) and cuts the order at the fractions, so the split
 * depends only on the identity set and the seed (not on input order) and sizes match the fractions
 * exactly (rounded). Each split with a non-zero fraction gets at least one identity when there are enough.
 */
export function identityDisjointSplit(identities: Iterable<string>, opts: { seed: number | string; fractions?: SplitFractions }): Map<string, Split> {
  const fractions = validateFractions(opts.fractions ?? DEFAULT_SPLIT_FRACTIONS);
  const unique = [...new Set(identities)];
  const keyed = unique.map((id) => ({ id, h: createHash('sha256').update(`${opts.seed}\u0000${id}`).digest('hex') }));
  keyed.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.id < b.id ? -1 : 1));
  const n = keyed.length;
  let nVal = Math.round(n * fractions.val);
  let nTest = Math.round(n * fractions.test);
  if (fractions.val > 0 && nVal === 0 && n >= 3) nVal = 1;
  if (fractions.test > 0 && nTest === 0 && n >= 3) nTest = 1;
  if (nVal + nTest > n) nTest = Math.max(0, n - nVal);
  const nTrain = n - nVal - nTest;
  const out = new Map<string, Split>();
  keyed.forEach(({ id }, i) => out.set(id, i < nTrain ? 'train' : i < nTrain + nVal ? 'val' : 'test'));
  return out;
}

export function validateFractions(f: SplitFractions): SplitFractions {
  for (const k of ['train', 'val', 'test'] as const) {
    if (typeof f[k] !== 'number' || !(f[k] >= 0) || f[k] > 1) throw badInput(`split fraction ${k}=${f[k]} must be a number in [0, 1]`);
  }
  const sum = f.train + f.val + f.test;
  if (Math.abs(sum - 1) > 1e-6) throw badInput(`split fractions must add up to 1, got ${sum} (train ${f.train}, val ${f.val}, test ${f.test})`);
  return f;
}
