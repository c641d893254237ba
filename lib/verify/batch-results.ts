/** The results format of chunks and results.jsonl: one JSON row per line. */
import type { BatchResultRow } from './types';

export function formatResultLines(rows: BatchResultRow[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

export function parseResultLines(text: string): BatchResultRow[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as BatchResultRow);
}
