/** A zip / tar / tar.gz archive at an http(s) URL, downloaded to a local file, then read entry by entry. */
import * as path from 'node:path';
import type { RunContext } from '../../progress';
import { redactUrl } from '../../redact';
import type { InputPolicy } from '../../security/input-policy';
import { downloadToFile } from '../../storage/download';
import { readArchive } from '../archive';
import type { OnSourceFile, SkippedEntry, SourceAdapter } from './types';

export function httpArchiveSource(url: string, tmpRoot: string, ctx: RunContext, policy: InputPolicy): SourceAdapter {
  return {
    async walk(onFile: OnSourceFile, skipped: SkippedEntry[]) {
      const archive = path.join(tmpRoot, 'archive');
      await downloadToFile(url, archive, {
        signal: ctx.signal,
        policy,
        purpose: 'dataset',
        what: 'dataset archive',
        onBytes: (bytes, total) => ctx.report({ stage: 'fetch', phase: 'download', downloadedBytes: bytes, totalBytes: total }),
      });
      const display = `archive ${redactUrl(url)}`;
      const r = await readArchive(archive, display, (entry, open) => onFile(entry.path, entry.size, open), { signal: ctx.signal, ...policy.archive });
      skipped.push(...r.skipped);
    },
  };
}
