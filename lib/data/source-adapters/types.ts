/**
 * What fetchDataset needs from a dataset source, whatever its kind: every file it holds, in the source's order,
 * each with its size and a way to open it. Labelling, policy and writing raw/ stay in the orchestrator.
 */
import type { Readable } from 'node:stream';
import type { SkippedEntry } from '../archive';
import type { ArchivedEntry } from '../raw-manifest';

export type { SkippedEntry } from '../archive';

/** Called once per file; `relPath` is the raw/-relative path it is stored under. */
export type OnSourceFile = (relPath: string, size: number, open: () => Promise<Readable>) => Promise<void>;

/** Called once per image left inside an archive the adapter stores whole (through `onFile`); `relPath` is inside it. */
export type OnArchivedImage = (relPath: string, entry: ArchivedEntry) => Promise<void>;

export interface SourceAdapter {
  /**
   * Calls `onFile` for each file to copy, one at a time; entries it cannot or will not copy go to `skipped`. An adapter
   * that keeps its archive whole reports the images inside it through `onArchived` instead of copying them.
   */
  walk(onFile: OnSourceFile, skipped: SkippedEntry[], onArchived: OnArchivedImage): Promise<void>;
}
