/** The shared face sets the benches read (../shared/data beside the checkout, or SIAMFACE_SHARED_DATA). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SHARED = process.env.SIAMFACE_SHARED_DATA ?? path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'data');

/** `limit` photos of an `<identity>/<image>` folder, spread evenly over its identities, as `<identity>/<image>` paths. */
export function photosSpread(root: string, limit: number): string[] {
  const files = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .flatMap((d) => fs.readdirSync(path.join(root, d)).sort().map((f) => path.join(d, f)));
  if (limit >= files.length) return files;
  const step = files.length / limit;
  return Array.from({ length: limit }, (_, i) => files[Math.floor(i * step)]);
}

/** At most `max` items, every k-th one, so that both labels of a pair list stay represented. */
export function everyKth<T>(items: readonly T[], max: number): T[] {
  const k = Math.max(1, Math.floor(items.length / max));
  return items.filter((_, i) => i % k === 0).slice(0, max);
}
