/**
 * Kaggle's CelebA archive: downloaded through the Kaggle API client (./kaggle.ts), then read entry by entry.
 * Only the labelled images selected by maxImages are part of the data set; the archive's other files are copied too.
 * When most of the archive's images are used, the zip is stored whole as one object and its images stay inside it
 * (the shard stage reads each with a ranged GET): 202,599 PUTs and the objects they leave become one upload.
 * A small subset (maxImages) is copied image by image instead, so that the whole zip is not stored for a few images.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { throwIfAborted, type RunContext } from '../../progress';
import type { InputPolicy } from '../../security/input-policy';
import { listArchive, readArchive, zipDataOffset } from '../archive';
import type { IdentityMap } from '../identity-file';
import { downloadKaggleDataset, readKaggleCredentials } from '../kaggle';
import { IMAGE_EXTENSIONS } from '../sources';
import type { OnArchivedImage, OnSourceFile, SkippedEntry, SourceAdapter } from './types';

export const CELEBA_IMAGE_DIR = /(^|\/)img_align_celeba\/img_align_celeba\/[^/]+$/;

export const isCelebaImage = (entryPath: string) => CELEBA_IMAGE_DIR.test(entryPath) && IMAGE_EXTENSIONS.test(entryPath);

/** The archive object, relative to raw/, when it is kept whole. */
export const archiveObjectPath = (dataset: string) => `_archive/${dataset.replace('/', '__')}.zip`;

export function kaggleCelebaSource(
  opts: { dataset: string; identities: IdentityMap; maxImages?: number; tmpRoot: string },
  ctx: RunContext,
  policy: InputPolicy,
): SourceAdapter {
  const { dataset, identities } = opts;
  return {
    async walk(onFile: OnSourceFile, skipped: SkippedEntry[], onArchived: OnArchivedImage) {
      const archive = path.join(opts.tmpRoot, `${dataset.replace('/', '__')}.zip`);
      const credentials = readKaggleCredentials();
      ctx.log('downloading from Kaggle', { dataset });
      await downloadKaggleDataset({
        apiBaseUrl: policy.kaggleApiUrl,
        policy,
        dataset,
        credentials,
        destFile: archive,
        signal: ctx.signal,
        onBytes: (bytes, total) => ctx.report({ stage: 'fetch', phase: 'download', downloadedBytes: bytes, totalBytes: total }),
      });
      const display = `Kaggle archive ${dataset}`;
      const entries = await listArchive(archive, display, ctx.signal, policy.archive);
      const selected = selectCelebaImages(
        entries.map((e) => e.path),
        identities,
        opts.maxImages,
      );
      const keepWhole = selected.size * 2 >= entries.filter((e) => isCelebaImage(e.path)).length;
      const archiveObject = archiveObjectPath(dataset);
      const fd = await fs.promises.open(archive, 'r');
      try {
        const r = await readArchive(
          archive,
          display,
          async (entry, open) => {
            throwIfAborted(ctx.signal);
            if (isCelebaImage(entry.path) && !selected.has(entry.path)) {
              if (!identities.has(path.posix.basename(entry.path))) skipped.push({ path: entry.path, reason: 'no identity label' });
              return; // beyond maxImages: not part of this data set
            }
            if (keepWhole && entry.zip && isCelebaImage(entry.path)) {
              const offset = await zipDataOffset(fd, entry.zip, display);
              await onArchived(entry.path, { archive: archiveObject, offset, compressedSize: entry.zip.compressedSize, size: entry.size, method: entry.zip.method, crc32: entry.zip.crc32 });
              return;
            }
            await onFile(entry.path, entry.size, open);
          },
          { signal: ctx.signal, ...policy.archive },
        );
        skipped.push(...r.skipped);
      } finally {
        await fd.close();
      }
      if (keepWhole) {
        ctx.log('storing the archive whole; its images are read from it by range', { dataset, images: selected.size });
        const { size } = await fs.promises.stat(archive);
        await onFile(archiveObject, size, async () => fs.createReadStream(archive));
      }
    },
  };
}

/** Labelled CelebA images, optionally only the first `maxImages` by file name. */
function selectCelebaImages(paths: string[], identities: IdentityMap, maxImages?: number): Set<string> {
  const labelled = paths.filter((p) => isCelebaImage(p) && identities.has(path.posix.basename(p))).sort();
  return new Set(maxImages ? labelled.slice(0, maxImages) : labelled);
}
