import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SHARED_DATA } from '../../support/shared-data';
import { SiamfaceError } from '../../../lib/errors';
import { checkIdentityFileMd5, md5Hex, parseIdentityFile, OFFICIAL_IDENTITY_FILE_MD5 } from '../../../lib/data/identity-file';
import { parseEvalPartition, reportPartitionByIdentity } from '../../../lib/data/celeba-partition';
import { csvField, parseCsv, splitCsvLine } from '../../../lib/data/csv';

const CELEBA_WILD_IDS = path.join(SHARED_DATA, 'celeba-wild/identity_CelebA.txt');

function rejects(fn: () => unknown, code: string, ...fragments: RegExp[]) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SiamfaceError, `expected SiamfaceError, got ${err}`);
    assert.equal(err.code, code);
    for (const f of fragments) assert.match(err.message, f);
    return true;
  });
}

test('identity file: official format, ids as written', () => {
  const map = parseIdentityFile('000001.jpg 2880\n000002.jpg 2937\n\n000003.jpg 8692\n', 'identity_CelebA.txt');
  assert.equal(map.size, 3);
  assert.equal(map.get('000001.jpg'), '2880');
  assert.equal(map.get('000003.jpg'), '8692');
});

test('identity file: a header line as in some copies is ignored', () => {
  const map = parseIdentityFile('image identity\r\n000001.jpg 2880\r\n', 'ids.txt');
  assert.deepEqual([...map], [['000001.jpg', '2880']]);
});

test('identity file: malformed lines name the file and the line', () => {
  rejects(() => parseIdentityFile('000001.jpg 2880\n000002.jpg\n', 'ids.txt'), 'bad_input', /ids\.txt line 2/, /got 1 fields/);
  // Messages never quote the file's contents (a wrong file could be a credentials file).
  assert.throws(() => parseIdentityFile('{"username":"u","key":"s3cr3t-value"}\n', 'kaggle.json'), (e: Error) => !e.message.includes('s3cr3t') && /kaggle\.json line 1/.test(e.message));
  rejects(() => parseIdentityFile('000001.jpg 2880\n000002.jpg abc\n', 'ids.txt'), 'bad_input', /ids\.txt line 2/, /not a number/);
  rejects(() => parseIdentityFile('../x.jpg 1\n', 'ids.txt'), 'bad_input', /line 1/, /plain file name/);
  rejects(() => parseIdentityFile('a.jpg 1\nb.jpg 2\na.jpg 3\n', 'ids.txt'), 'bad_input', /line 3/, /another identity than on an earlier line/);
  rejects(() => parseIdentityFile('\n\n', 'ids.txt'), 'bad_input', /ids\.txt/);
});

test('identity file: the real celeba-wild file parses and its MD5 is checked', { skip: !fs.existsSync(CELEBA_WILD_IDS) }, () => {
  const data = fs.readFileSync(CELEBA_WILD_IDS);
  const map = parseIdentityFile(data.toString('utf8'), CELEBA_WILD_IDS);
  assert.equal(map.size, 3216);
  assert.equal(new Set(map.values()).size, 298);
  checkIdentityFileMd5(data, CELEBA_WILD_IDS, md5Hex(data));
  rejects(() => checkIdentityFileMd5(data, CELEBA_WILD_IDS, OFFICIAL_IDENTITY_FILE_MD5), 'checksum_mismatch', /identity_CelebA\.txt has MD5 [0-9a-f]{32}/, new RegExp(OFFICIAL_IDENTITY_FILE_MD5));
});

test('partition csv: parses Kaggle list_eval_partition.csv and reports errors with line numbers', () => {
  const p = parseEvalPartition('image_id,partition\n000001.jpg,0\n162771.jpg,1\n182638.jpg,2\n', 'list_eval_partition.csv');
  assert.deepEqual([...p], [['000001.jpg', 'train'], ['162771.jpg', 'val'], ['182638.jpg', 'test']]);
  rejects(() => parseEvalPartition('image_id,partition\n000001.jpg,0\n000002.jpg,3\n', 'list_eval_partition.csv'), 'bad_input', /list_eval_partition\.csv line 3/, /must be 0, 1 or 2/);
  rejects(() => parseEvalPartition('image_id,partition\n000001.jpg,0,9\n', 'list_eval_partition.csv'), 'bad_input', /line 2/, /expected 2 fields/);
  rejects(() => parseEvalPartition('file,split\n000001.jpg,0\n', 'list_eval_partition.csv'), 'bad_input', /line 1/, /expected a header/);
});

test('partition report: identities spanning official partitions are counted', () => {
  const partition = parseEvalPartition('image_id,partition\na.jpg,0\nb.jpg,0\nc.jpg,1\nd.jpg,2\n', 'p.csv');
  const ids = parseIdentityFile('a.jpg 1\nb.jpg 2\nc.jpg 2\nd.jpg 3\ne.jpg 3\n', 'i.txt');
  const r = reportPartitionByIdentity(partition, ids, ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg']);
  assert.deepEqual(r.partitions, { train: { images: 2, identities: 2 }, val: { images: 1, identities: 1 }, test: { images: 1, identities: 1 } });
  assert.equal(r.identitiesInSeveralPartitions, 1);
  assert.equal(r.imagesWithoutPartition, 1);
  assert.equal(r.identityDisjoint, false);
});

test('csv fields with commas and quotes round-trip', () => {
  for (const v of ['plain', 'a,b', 'say "hi"', 'x\ny']) assert.deepEqual(splitCsvLine(`${csvField(v)},1`), [v, '1']);
  assert.deepEqual(parseCsv('a,b\n1,2\n', 'f.csv').rows, [{ line: 2, cells: ['1', '2'] }]);
});
