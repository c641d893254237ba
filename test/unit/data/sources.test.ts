import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SiamfaceError } from '../../../lib/errors';
import { datasetIdFor, validateSource } from '../../../lib/data/sources';
import { kaggleHttpError, readKaggleCredentials } from '../../../lib/data/kaggle';

test('dataset id: stable across key order, different for another config', () => {
  const a = datasetIdFor({ kind: 'kaggle-celeba', identityFile: 's3://b/ids.txt', maxImages: 100 });
  const b = datasetIdFor({ maxImages: 100, identityFile: 's3://b/ids.txt', kind: 'kaggle-celeba' });
  assert.equal(a, b);
  assert.match(a, /^celeba-[0-9a-f]{12}$/);
  assert.notEqual(a, datasetIdFor({ kind: 'kaggle-celeba', identityFile: 's3://b/ids.txt', maxImages: 101 }));
  assert.equal(datasetIdFor({ kind: 'folder', location: '/x' }, 'lfw-1'), 'lfw-1');
  assert.throws(() => datasetIdFor({ kind: 'folder', location: '/x' }, '../up'), SiamfaceError);
});

test('source validation names the bad field', () => {
  assert.throws(() => validateSource({ kind: 'folder', location: '' }), /source\.location is required/);
  assert.throws(() => validateSource({ kind: 'kaggle-celeba', identityFile: 'x', dataset: 'nope' }), /source\.dataset 'nope'/);
  assert.throws(() => validateSource({ kind: 'kaggle-celeba', identityFile: 'x', identityFileMd5: 'abc' }), /identityFileMd5 'abc'/);
  assert.throws(() => validateSource({ kind: 'ftp' } as never), /unknown dataset source kind 'ftp'/);
});

test('Kaggle credentials: environment first, then kaggle.json, else a clear permanent error', () => {
  assert.deepEqual(readKaggleCredentials({ KAGGLE_USERNAME: 'u', KAGGLE_KEY: 'k' }, '/nonexistent'), { username: 'u', key: 'k' });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kaggle-home-'));
  try {
    assert.throws(() => readKaggleCredentials({}, home), (e: unknown) => e instanceof SiamfaceError && e.code === 'bad_credentials' && /KAGGLE_USERNAME and KAGGLE_KEY/.test(e.message));
    fs.mkdirSync(path.join(home, '.kaggle'));
    fs.writeFileSync(path.join(home, '.kaggle', 'kaggle.json'), JSON.stringify({ username: 'fileuser', key: 'filekey123' }));
    assert.deepEqual(readKaggleCredentials({}, home), { username: 'fileuser', key: 'filekey123' });
    fs.writeFileSync(path.join(home, '.kaggle', 'kaggle.json'), '{"username": "x"}');
    assert.throws(() => readKaggleCredentials({}, home), /must hold/);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('Kaggle answers map to documented outcomes without the key', () => {
  const e401 = kaggleHttpError(401, 'o/d', 'alice');
  assert.equal(e401.code, 'bad_credentials');
  assert.equal(e401.permanent, true);
  assert.match(e401.message, /check KAGGLE_USERNAME\/KAGGLE_KEY/);
  assert.equal(kaggleHttpError(403, 'o/d', 'alice').code, 'bad_credentials');
  assert.equal(kaggleHttpError(404, 'o/d', 'alice').code, 'not_found');
  assert.equal(kaggleHttpError(503, 'o/d', 'alice').permanent, false);
  assert.equal(kaggleHttpError(429, 'o/d', 'alice').code, 'transient');
});
