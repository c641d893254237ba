/**
 * Batch job input: a CSV of pairs (`a,b` and an optional `label`, header optional) or JSONL
 * (`{"a": ..., "b": ..., "label"?: 0|1}` per line). Blank lines are not rows; every other record
 * (but a CSV header) is exactly one row, and a record that is not a pair becomes a `bad_row` error
 * for that row instead of failing the job. A record is a line, except that a CSV record spans lines
 * when a quoted field holds a newline: CSV is the project's one dialect (lib/data/csv.ts).
 */
import { badInput, jsonErrorPosition } from '../errors';
import { csvRecordState, splitCsvLine } from '../data/csv';

export type BatchInputFormat = 'csv' | 'jsonl';

export interface CsvColumns {
  a: number;
  b: number;
  label?: number;
}

export type ParsedRow = { a: string; b: string; label?: number } | { error: string };

export function formatOf(key: string, firstLine: string): BatchInputFormat {
  if (/\.(jsonl|ndjson)$/i.test(key)) return 'jsonl';
  if (/\.csv$/i.test(key)) return 'csv';
  return firstLine.trimStart().startsWith('{') ? 'jsonl' : 'csv';
}

/** The header's columns when the first line is a header (`a,b[,label]` in any order), else null. */
export function csvHeader(firstLine: string): CsvColumns | null {
  let cells: string[];
  try {
    cells = splitCsvLine(firstLine).map((c) => c.toLowerCase());
  } catch {
    return null;
  }
  const a = cells.indexOf('a');
  const b = cells.indexOf('b');
  if (a < 0 || b < 0) return null;
  const label = cells.indexOf('label');
  return { a, b, ...(label >= 0 ? { label } : {}) };
}

export const DEFAULT_COLUMNS: CsvColumns = { a: 0, b: 1, label: 2 };

export function parseRow(line: string, format: BatchInputFormat, columns: CsvColumns = DEFAULT_COLUMNS): ParsedRow {
  return format === 'jsonl' ? parseJsonRow(line) : parseCsvRow(line, columns);
}

function parseCsvRow(line: string, columns: CsvColumns): ParsedRow {
  let cells: string[];
  try {
    cells = splitCsvLine(line);
  } catch (err) {
    return { error: `malformed CSV line: ${(err as Error).message}` };
  }
  const width = Math.max(columns.a, columns.b, columns.label ?? -1) + 1;
  const required = Math.max(columns.a, columns.b) + 1;
  if (cells.length < required || cells.length > Math.max(width, required)) {
    return { error: `expected ${columns.label !== undefined ? 'a,b[,label]' : 'a,b'} (${required}${width > required ? `-${width}` : ''} fields), got ${cells.length}` };
  }
  const a = cells[columns.a];
  const b = cells[columns.b];
  if (!a || !b) return { error: `empty image location in ${!a ? 'a' : 'b'}` };
  const rawLabel = columns.label !== undefined ? cells[columns.label] : undefined;
  return withLabel(a, b, rawLabel === undefined || rawLabel === '' ? undefined : rawLabel);
}

function parseJsonRow(line: string): ParsedRow {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    return { error: `not JSON${jsonErrorPosition(err)}` };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { error: 'expected an object {"a": ..., "b": ...}' };
  const { a, b, label } = v as Record<string, unknown>;
  if (typeof a !== 'string' || !a || typeof b !== 'string' || !b) return { error: 'fields a and b must be non-empty strings' };
  return withLabel(a, b, label === undefined || label === null ? undefined : label);
}

function withLabel(a: string, b: string, label: unknown): ParsedRow {
  if (label === undefined) return { a, b };
  const n = typeof label === 'number' ? label : Number(label);
  if (n !== 0 && n !== 1) return { error: `label must be 0 or 1, got ${JSON.stringify(label)}` };
  return { a, b, label: n };
}

/** A line of input text with its position, for building and reading chunks. */
export interface InputLine {
  text: string;
  /** 1-based line number in the input. */
  line: number;
  /** Byte offset of the line's first byte. */
  offset: number;
}

/** A pair line is a few hundred bytes; a longer one is not a pair file (and an endless one must not fill memory). */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * Splits a stream of bytes into lines (LF or CRLF), tracking byte offsets. Lines must be UTF-8;
 * a NUL byte means the input is binary, which no pair file is. Lines are capped at `maxLineBytes`.
 */
export async function* readLines(chunks: AsyncIterable<Uint8Array>, name: string, startOffset = 0, startLine = 1, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<InputLine> {
  const tooLong = (line: number) => badInput(`${name} line ${line} is longer than ${maxLineBytes} bytes: expected CSV or JSONL pairs, one per line`);
  let pending: Buffer = Buffer.alloc(0);
  let pendingOffset = startOffset;
  let line = startLine;
  for await (const c of chunks) {
    const buf = pending.length ? Buffer.concat([pending, Buffer.from(c)]) : Buffer.from(c);
    if (buf.includes(0)) throw badInput(`${name} is not a text file (it contains NUL bytes near byte ${pendingOffset}): expected CSV or JSONL pairs`);
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      if (nl - start > maxLineBytes) throw tooLong(line);
      yield { text: decodeLine(buf.subarray(start, nl)), line: line++, offset: pendingOffset + start };
      start = nl + 1;
    }
    pendingOffset += start;
    pending = buf.subarray(start);
    if (pending.length > maxLineBytes) throw tooLong(line);
  }
  if (pending.length) yield { text: decodeLine(pending), line, offset: pendingOffset };
}

/** A quoted field spans at most this many lines; image locations hold a newline rarely, if ever. */
export const MAX_RECORD_LINES = 16;

/**
 * The records of an input with the line and byte offset where each starts (so chunks, cut at record
 * starts, hold whole records). A CSV record spans lines when a quoted field holds a newline. A quote
 * that no later line closes within MAX_RECORD_LINES lines and MAX_LINE_BYTES bytes leaves its line
 * a record of its own, which parseRow makes that row's error. `formatOf` gets the first non-blank line.
 */
export async function* readRecords(chunks: AsyncIterable<Uint8Array>, name: string, formatOf: (firstLine: string) => BatchInputFormat, startOffset = 0, startLine = 1): AsyncGenerator<InputLine> {
  let format: BatchInputFormat | undefined;
  const pending: InputLine[] = [];
  function* complete(atEnd: boolean): Generator<InputLine> {
    while (pending.length) {
      const first = pending[0];
      if (format !== 'csv' || csvRecordState(first.text) !== 'open') {
        yield pending.shift()!;
        continue;
      }
      let text = first.text;
      let state: ReturnType<typeof csvRecordState> = 'open';
      let used = 1;
      while (state === 'open' && used < pending.length) {
        text += `\n${pending[used++].text}`;
        state = csvRecordState(text);
      }
      if (state === 'record') {
        pending.splice(0, used);
        yield { ...first, text };
        continue;
      }
      const mayClose = state === 'open' && !atEnd && used < MAX_RECORD_LINES && Buffer.byteLength(text) <= MAX_LINE_BYTES;
      if (mayClose) return;
      yield pending.shift()!;
    }
  }
  for await (const l of readLines(chunks, name, startOffset, startLine)) {
    if (!format && l.text.trim() !== '') format = formatOf(l.text);
    pending.push(l);
    yield* complete(false);
  }
  yield* complete(true);
}

function decodeLine(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/\r$/, '').replace(/^\uFEFF/, '');
}
