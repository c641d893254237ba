/**
 * Minimal CSV reading and writing for the small metadata files of face data sets
 * (CelebA's list_*.csv, pairs files). Errors name the file and the 1-based line.
 */
import { badInput } from '../errors';

export interface CsvTable {
  header: string[];
  /** Rows with their 1-based line number in the file, for error messages. */
  rows: { line: number; cells: string[] }[];
}

/** Parses comma-separated text without quoted fields (CelebA's files have none); every row must match the header's width. */
export function parseCsv(text: string, fileName: string, opts: { expectHeader?: string[] } = {}): CsvTable {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let headerLine = -1;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '') {
      headerLine = i;
      break;
    }
  }
  if (headerLine < 0) throw badInput(`${fileName} is empty: expected a CSV header line`);
  const header = lines[headerLine].split(',').map((h) => h.trim());
  if (opts.expectHeader) {
    const want = opts.expectHeader;
    if (want.length > header.length || want.some((h, i) => header[i] !== h)) {
      throw badInput(`${fileName} line ${headerLine + 1}: expected a header starting '${want.join(',')}'`);
    }
  }
  const rows: CsvTable['rows'] = [];
  for (let i = headerLine + 1; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === '') continue;
    // Messages never quote the file's contents.
    if (raw.includes('"')) throw badInput(`${fileName} line ${i + 1}: quoted fields are not supported`);
    const cells = raw.split(',').map((c) => c.trim());
    if (cells.length !== header.length) {
      throw badInput(`${fileName} line ${i + 1}: expected ${header.length} fields, got ${cells.length}`);
    }
    rows.push({ line: i + 1, cells });
  }
  return { header, rows };
}

/** Quotes a field when it holds a comma, quote or newline (RFC 4180). */
export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Splits one CSV line written by csvField (handles quoted fields). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
