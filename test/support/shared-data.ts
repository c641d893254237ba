/**
 * The real face sets beside the checkout (../shared/data: faces-dev, lfw-train, celeba-wild), read-only.
 * CI clones the project elsewhere with a copy of shared/ beside it, so the path is relative to the
 * project root (override: SIAMFACE_SHARED_DATA).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { testInputDir } from './test-policy';
import { parseCsv } from '../../lib/data/csv';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..', '..');
export const SHARED_DATA = process.env.SIAMFACE_SHARED_DATA ?? path.resolve(PROJECT_ROOT, '..', 'shared', 'data');

export function sharedSet(name: 'faces-dev' | 'lfw-train' | 'celeba-wild'): string {
  const dir = path.join(SHARED_DATA, name);
  if (!fs.existsSync(dir)) throw new Error(`shared data set ${dir} not found (set SIAMFACE_SHARED_DATA)`);
  return dir;
}

/** The rows of a set's pairs.csv (`a,b,label`: image paths relative to the set, 1 = same person), read with the project's CSV parser. */
export function sharedPairs(name: 'faces-dev' | 'lfw-train'): [a: string, b: string, label: string][] {
  const file = path.join(sharedSet(name), 'pairs.csv');
  return parseCsv(fs.readFileSync(file, 'utf8'), file, { expectHeader: ['a', 'b', 'label'] }).rows.map((r) => r.cells as [string, string, string]);
}

/**
 * Copies a deterministic subset of an <identity>/<image> set into a temp folder: the first
 * `identities` identities (sorted) having at least `minImages` images, at most `maxImages` each.
 */
export function subsetOf(name: 'lfw-train' | 'celeba-wild' | 'faces-dev', opts: { identities: number; minImages?: number; maxImages?: number }): string {
  const src = sharedSet(name);
  const out = testInputDir(name);
  const ids = fs
    .readdirSync(src, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  let taken = 0;
  for (const id of ids) {
    if (taken >= opts.identities) break;
    const files = fs.readdirSync(path.join(src, id)).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
    if (files.length < (opts.minImages ?? 1)) continue;
    fs.mkdirSync(path.join(out, id));
    for (const f of files.slice(0, opts.maxImages ?? files.length)) fs.copyFileSync(path.join(src, id, f), path.join(out, id, f));
    taken++;
  }
  return out;
}
