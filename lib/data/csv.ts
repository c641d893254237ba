/**
 * The one CSV dialect of the project, read with csv-parse and written with `csvField`, so that every
 * reader and the writer agree: comma-separated; a double-quoted field may hold commas, doubled quotes
 * and newlines; whitespace around a field is trimmed (the writer quotes a field that starts or ends
 * with whitespace); a quote inside an unquoted field is literal; blank lines are not records.
 * Errors name the file and the 1-based line, never the file's contents.
 */
import { CsvError, parse } from 'csv-parse/sync';
import { badInput } from '../errors';

const DIALECT = {
  bom: true,
  trim: true,
  relax_quotes: true,
  // Callers check the width themselves, so the error can say what the row should hold.
  relax_column_count: true,
  skip_empty_lines: true,
  // A lone CR is data, not a line break (readLines splits on LF and CRLF only).
  record_delimiter: ['\r\n', '\n'],
};

export interface CsvRecord {
  /** 1-based line number where the record starts, for error messages. */
  line: number;
  cells: string[];
}

export interface CsvTable {
  header: string[];
  /** Rows with their 1-based line number in the file, for error messages. */
  rows: CsvRecord[];
}

/** Every record of a CSV text; a syntax error (an unterminated quote, text after a closing quote) names the file and line. */
export function parseCsvRecords(text: string, fileName: string): CsvRecord[] {
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, { ...DIALECT, info: true }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    throw badInput(`${fileName} line ${recordStartLine(text, err)}: ${csvProblem(err)}`);
  }
  // info.lines is the line the record ends on; its quoted newlines say how many lines it spans.
  return parsed.map(({ record, info }) => ({ line: info.lines - record.reduce((n, c) => n + newlines(c), 0), cells: record }));
}

/** Parses a CSV text whose first record is a header; every row must match the header's width. */
export function parseCsv(text: string, fileName: string, opts: { expectHeader?: string[] } = {}): CsvTable {
  const [head, ...rows] = parseCsvRecords(text, fileName);
  if (!head) throw badInput(`${fileName} is empty: expected a CSV header line`);
  const header = head.cells;
  if (opts.expectHeader) {
    const want = opts.expectHeader;
    if (want.length > header.length || want.some((h, i) => header[i] !== h)) {
      throw badInput(`${fileName} line ${head.line}: expected a header starting '${want.join(',')}'`);
    }
  }
  for (const r of rows) {
    if (r.cells.length !== header.length) throw badInput(`${fileName} line ${r.line}: expected ${header.length} fields, got ${r.cells.length}`);
  }
  return { header, rows };
}

/**
 * Splits one line into its fields, for inputs read line by line (batch inputs, which are chunked by
 * byte offset). Throws an Error whose message names the problem (not the line's text).
 */
export function splitCsvLine(line: string): string[] {
  let records: string[][];
  try {
    records = parse(line, DIALECT) as string[][];
  } catch (err) {
    throw new Error(csvProblem(err));
  }
  return records[0] ?? [''];
}

/**
 * How text read so far ends, for readers that collect a record line by line: inside a quoted field
 * that a later line may close ('open'), as exactly one well-formed record ('record'), or otherwise.
 */
export function csvRecordState(text: string): 'open' | 'record' | 'other' {
  try {
    return (parse(text, DIALECT) as string[][]).length === 1 ? 'record' : 'other';
  } catch (err) {
    return err instanceof CsvError && err.code === 'CSV_QUOTE_NOT_CLOSED' ? 'open' : 'other';
  }
}

/** Quotes a field when it holds a comma, quote or newline, or starts or ends with whitespace (which the reader trims). */
export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// csv-parse's own messages quote the offending text; ours say only what is wrong.
function csvProblem(err: unknown): string {
  if (!(err instanceof CsvError)) throw err;
  switch (err.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'unterminated quoted field';
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'text after the closing quote of a field';
    default:
      return `malformed CSV (${err.code})`;
  }
}

/** The line where the record that failed starts: csv-parse counts the bytes of the records before it. */
function recordStartLine(text: string, err: unknown): number {
  const done = err instanceof CsvError && typeof err.bytes_records === 'number' ? err.bytes_records : 0;
  const bytes = Buffer.from(text);
  const blank = /^\s*/.exec(bytes.subarray(done).toString('utf8'))![0];
  return 1 + bytes.subarray(0, done).reduce((n, b) => n + (b === 10 ? 1 : 0), 0) + newlines(blank);
}

function newlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}
