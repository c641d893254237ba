/** A local folder of <identity>/<image> files (already realpath-checked against the dataset roots). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SiamfaceError, badInput } from '../../errors';
import { throwIfAborted } from '../../progress';
import type { OnSourceFile, SkippedEntry, SourceAdapter } from './types';

/** Regular files under `root` in sorted order; symlinks are recorded as skipped, never followed. */
export function localDirSource(root: string, signal: AbortSignal): SourceAdapter {
  return {
    async walk(onFile: OnSourceFile, skipped: SkippedEntry[]) {
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(root);
      } catch {
        throw new SiamfaceError('not_found', `dataset folder ${root} does not exist`);
      }
      if (!st.isDirectory()) {
        throw badInput(`${root} is a file: a local dataset source must be a directory of <identity>/<image> files (or give an http(s) archive)`);
      }
      const visit = async (dir: string, rel: string): Promise<void> => {
        const entries = await fs.promises.readdir(dir, { withFileTypes: true });
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const e of entries) {
          throwIfAborted(signal);
          const relPath = rel ? `${rel}/${e.name}` : e.name;
          const full = path.join(dir, e.name);
          if (e.isSymbolicLink()) skipped.push({ path: relPath, reason: 'symlink not followed' });
          else if (e.isDirectory()) await visit(full, relPath);
          else if (e.isFile()) {
            const size = (await fs.promises.lstat(full)).size;
            await onFile(relPath, size, async () => fs.createReadStream(full));
          } else skipped.push({ path: relPath, reason: 'not a regular file' });
        }
      };
      await visit(root, '');
    },
  };
}
