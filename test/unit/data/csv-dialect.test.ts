/** One CSV dialect: what csvField writes, every reader (metadata tables, pairs files, batch inputs) reads back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { csvField, parseCsv, parseCsvRecords } from '../../../lib/data/csv';
import { parsePairsCsv } from '../../../lib/train/data-loader';
import { csvHeader, formatOf, parseRow, readRecords, type InputLine } from '../../../lib/verify/batch-input';

const AWKWARD = ['x, y/1.jpg', 'say "hi"/2.jpg', 'two\nlines/3.jpg', ' padded /4.jpg', 'plain/5.jpg', '"', ',', 'é/6.jpg'];

/** A pairs file as generatePairs writes it: header, then csvField-quoted a,b and the label. */
function pairsFile(pairs: { a: string; b: string; label: 0 | 1 }[]): string {
  return ['a,b,label', ...pairs.map((p) => `${csvField(p.a)},${csvField(p.b)},${p.label}`)].join('\n') + '\n';
}

async function records(text: string, name = 'in.csv', chunkBytes = 7): Promise<InputLine[]> {
  const bytes = Buffer.from(text);
  const pieces = [];
  // Small pieces so that records and quoted newlines straddle chunk boundaries.
  for (let i = 0; i < bytes.length; i += chunkBytes) pieces.push(bytes.subarray(i, i + chunkBytes));
  const out = [];
  for await (const r of readRecords(Readable.from(pieces), name, (first) => formatOf(name, first))) out.push(r);
  return out;
}

test('a comma, a doubled quote, a newline and edge spaces round-trip through csvField and every reader', async () => {
  const pairs = AWKWARD.map((a, i) => ({ a, b: AWKWARD[(i + 1) % AWKWARD.length], label: (i % 2) as 0 | 1 }));
  const text = pairsFile(pairs);

  assert.deepEqual(parsePairsCsv(text, 'p.csv'), pairs);
  const table = parseCsv(text, 'p.csv', { expectHeader: ['a', 'b', 'label'] });
  assert.deepEqual(table.rows.map((r) => r.cells), pairs.map((p) => [p.a, p.b, String(p.label)]));

  // Batch input (and evaluation input): records with the line and byte offset they start at.
  const recs = await records(text);
  assert.deepEqual(csvHeader(recs[0].text), { a: 0, b: 1, label: 2 });
  const rows = recs.slice(1).map((r) => parseRow(r.text, 'csv', csvHeader(recs[0].text)!));
  assert.deepEqual(rows, pairs);
  const bytes = Buffer.from(text);
  for (const r of recs) assert.equal(bytes.subarray(r.offset).toString().startsWith(r.text), true, `offset of record at line ${r.line}`);
  // Every reader agrees on the line a record starts at (the pairs with a newline push later ones down).
  assert.deepEqual(recs.map((r) => r.line), parseCsvRecords(text, 'p.csv').map((r) => r.line));
  assert.deepEqual(table.rows.map((r) => r.line), [2, 3, 5, 7, 8, 9, 10, 11]);
});

test('batch input: an unterminated quote is that row\'s error, and the rows after it are still rows', async () => {
  const text = 'a,b\n"open.jpg,x.jpg\ny.jpg,z.jpg\n\n"ok\nsplit.jpg",w.jpg\n';
  const recs = await records(text);
  assert.deepEqual(recs.filter((r) => r.text.trim() !== '').map((r) => r.line), [1, 2, 3, 5]);
  const rows = recs.slice(1).filter((r) => r.text.trim() !== '').map((r) => parseRow(r.text, 'csv'));
  assert.deepEqual(rows[0], { error: 'malformed CSV line: unterminated quoted field' });
  assert.deepEqual(rows[1], { a: 'y.jpg', b: 'z.jpg' });
  assert.deepEqual(rows[2], { a: 'ok\nsplit.jpg', b: 'w.jpg' });
  // JSONL lines are never joined, quotes or not.
  const jsonl = await records('{"a":"\\"x","b":"y"}\n{"a":"p","b":"q"}\n', 'in.jsonl');
  assert.deepEqual(jsonl.map((r) => parseRow(r.text, 'jsonl')), [{ a: '"x', b: 'y' }, { a: 'p', b: 'q' }]);
});

test('whole-file readers: an unterminated quote fails naming the file and the line it opens on, not the text', () => {
  assert.throws(() => parsePairsCsv('a,b,label\nx,y,1\n\n"secret-ish,z,0\nu,v,1\n', 's3://b/pairs.csv'), (err: Error) => {
    assert.match(err.message, /^s3:\/\/b\/pairs\.csv line 4: unterminated quoted field$/);
    return true;
  });
  assert.throws(() => parseCsv('h1,h2\n"a"b,c\n', 'f.csv'), /^.*f\.csv line 2: text after the closing quote of a field$/);
});
