import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { csvHeader, formatOf, parseRow, readLines } from '../../../lib/verify/batch-input';
import { splitCsvLine } from '../../../lib/data/csv';
import { resolveAgainst } from '../../../lib/verify/prepare-image';
import { shouldDetect, trainingGeometry } from '../../../lib/verify/detection-policy';
import { parseModelRef, progressLine } from '../../../cli/commands/verify';
import { emptyCounters } from '../../../lib/verify/batch-status';

test('CSV lines: plain, quoted with commas and doubled quotes, unterminated quote', () => {
  assert.deepEqual(splitCsvLine('a.jpg, b.jpg ,1'), ['a.jpg', 'b.jpg', '1']);
  assert.deepEqual(splitCsvLine('"x, y.jpg","say ""hi"".jpg"'), ['x, y.jpg', 'say "hi".jpg']);
  assert.throws(() => splitCsvLine('"open,b'), /unterminated/);
});

test('CSV header is recognised in any column order, data lines are not headers', () => {
  assert.deepEqual(csvHeader('a,b,label'), { a: 0, b: 1, label: 2 });
  assert.deepEqual(csvHeader('label,B,A'), { a: 2, b: 1, label: 0 });
  assert.equal(csvHeader('x/1.jpg,x/2.jpg,1'), null);
});

test('rows: good pairs with and without labels; malformed lines become errors naming the problem', () => {
  assert.deepEqual(parseRow('p/1.jpg,p/2.jpg,1', 'csv'), { a: 'p/1.jpg', b: 'p/2.jpg', label: 1 });
  assert.deepEqual(parseRow('p/1.jpg,p/2.jpg', 'csv'), { a: 'p/1.jpg', b: 'p/2.jpg' });
  assert.match((parseRow('only-one-field', 'csv') as { error: string }).error, /got 1/);
  assert.match((parseRow('a,b,c,d', 'csv') as { error: string }).error, /got 4/);
  assert.match((parseRow('a,b,7', 'csv') as { error: string }).error, /label must be 0 or 1/);
  assert.match((parseRow(',b', 'csv') as { error: string }).error, /empty image location in a/);
  assert.deepEqual(parseRow('{"a":"s3://b/k1","b":"k2","label":0}', 'jsonl'), { a: 's3://b/k1', b: 'k2', label: 0 });
  assert.match((parseRow('{"a": 1}', 'jsonl') as { error: string }).error, /non-empty strings/);
  assert.match((parseRow('{not json', 'jsonl') as { error: string }).error, /not JSON/);
  assert.equal(formatOf('x.jsonl', 'a,b'), 'jsonl');
  assert.equal(formatOf('x.txt', '{"a":1}'), 'jsonl');
  assert.equal(formatOf('x.txt', 'a,b'), 'csv');
});

test('readLines tracks byte offsets and line numbers across chunk boundaries and CRLF, and rejects binary input', async () => {
  const text = 'a,b\r\nxé,y\n\nlast';
  const bytes = Buffer.from(text);
  const pieces = [bytes.subarray(0, 3), bytes.subarray(3, 8), bytes.subarray(8)];
  const lines = [];
  for await (const l of readLines(Readable.from(pieces), 'x')) lines.push(l);
  assert.deepEqual(lines.map((l) => l.text), ['a,b', 'xé,y', '', 'last']);
  assert.deepEqual(lines.map((l) => l.line), [1, 2, 3, 4]);
  for (const l of lines) assert.equal(bytes.subarray(l.offset).toString().startsWith(l.text), true, `offset of '${l.text}'`);
  await assert.rejects(async () => {
    for await (const _ of readLines(Readable.from([Buffer.from([0x41, 0, 0x42])]), 'bin.csv')) void _;
  }, /bin.csv is not a text file/);
});

test('relative image locations resolve against the base; absolute ones and URIs do not', () => {
  assert.equal(resolveAgainst('p/1.jpg', '/data/set/'), '/data/set/p/1.jpg');
  assert.equal(resolveAgainst('./p/1.jpg', 's3://bkt/pre'), 's3://bkt/pre/p/1.jpg');
  assert.equal(resolveAgainst('/abs/1.jpg', '/data'), '/abs/1.jpg');
  assert.equal(resolveAgainst('https://h/x.jpg', '/data'), 'https://h/x.jpg');
  assert.equal(resolveAgainst('p/1.jpg'), 'p/1.jpg');
});

test('detection policy: CelebA-frame models detect unaligned photos but not 178x218 aligned crops; dataset-crop models never in auto', () => {
  const card = (crop: string, kind: string) => ({ model: { preprocessing: { crop } }, training: { config: { dataset: { source: { kind } } } } }) as never;
  assert.equal(trainingGeometry(card('face-align', 'folder')), 'celeba-aligned');
  assert.equal(trainingGeometry(card('centre', 'kaggle-celeba')), 'celeba-aligned');
  assert.equal(trainingGeometry(card('centre', 'folder')), 'dataset-crop');
  assert.equal(shouldDetect('auto', 'celeba-aligned', { width: 640, height: 480 }), true);
  assert.equal(shouldDetect('auto', 'celeba-aligned', { width: 178, height: 218 }), false);
  assert.equal(shouldDetect('auto', 'dataset-crop', { width: 640, height: 480 }), false);
  assert.equal(shouldDetect('always', 'dataset-crop', { width: 178, height: 218 }), true);
  assert.equal(shouldDetect('never', 'celeba-aligned', { width: 640, height: 480 }), false);
});

test('CLI helpers: --model parsing and the progress line', () => {
  assert.deepEqual(parseModelRef('tiny:3'), { name: 'tiny', version: 3 });
  assert.deepEqual(parseModelRef('tiny'), { name: 'tiny' });
  assert.deepEqual(parseModelRef(':2'), { version: 2 });
  assert.throws(() => parseModelRef('Bad Name'), /--model/);
  const line = progressLine({ ...emptyCounters(), pairsDone: 50, errors: 2, jobId: 'j', state: 'running', total: 200, chunks: 4, model: null, throughput: 10, etaSec: 15, runningChunks: [], continuedAsNew: 0 }, 10);
  assert.match(line, /^\[###\.{7}\] 50\/200 pairs 25\.0% \| 10\.0 pairs\/s \| errors 2 \| ETA 15s/);
});
