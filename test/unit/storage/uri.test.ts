import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { parseUri, joinKey } from '../../../lib/storage/uri';
import { redactUrl, httpError } from '../../../lib/storage/open-location';
import { classify } from '../../../lib/storage/object-store';
import { SiamfaceError } from '../../../lib/errors';

test('parseUri recognises s3, http(s), file:// and plain paths', () => {
  assert.deepEqual(parseUri('s3://my-bucket/datasets/x/raw/a.jpg'), { kind: 's3', bucket: 'my-bucket', key: 'datasets/x/raw/a.jpg' });
  assert.deepEqual(parseUri('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', key: '' });
  assert.deepEqual(parseUri('https://example.org/a.zip'), { kind: 'http', url: 'https://example.org/a.zip' });
  assert.deepEqual(parseUri('file:///tmp/a%20b.jpg'), { kind: 'file', path: '/tmp/a b.jpg' });
  assert.deepEqual(parseUri('data/x.jpg'), { kind: 'file', path: path.resolve('data/x.jpg') });
});

test('parseUri rejects bad buckets, empty input and unknown schemes with the input named', () => {
  assert.throws(() => parseUri('s3://Bad_Bucket/x'), /invalid S3 bucket name 'Bad_Bucket'/);
  assert.throws(() => parseUri('  '), /empty location/);
  assert.throws(() => parseUri('ftp://host/x'), /unsupported location scheme in 'ftp:\/\/host\/x'/);
});

test('joinKey normalises slashes', () => {
  assert.equal(joinKey('datasets/', '/abc/', 'raw', 'x.jpg'), 'datasets/abc/raw/x.jpg');
  assert.equal(joinKey('', 'a'), 'a');
});

test('redactUrl removes credentials and signed query strings', () => {
  assert.equal(redactUrl('https://user:secret@host/p?X-Amz-Signature=abc'), 'https://host/p?<redacted>');
});

test('HTTP and S3 errors are classified as permanent or transient and name the object', () => {
  assert.equal(httpError(401, 'http://h/x').code, 'bad_credentials');
  assert.equal(httpError(503, 'http://h/x').permanent, false);
  const nf = classify(Object.assign(new Error('nope'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }), 'b', 'k/x.json');
  assert.ok(nf instanceof SiamfaceError);
  assert.equal(nf.code, 'not_found');
  assert.match(nf.message, /s3:\/\/b\/k\/x\.json/);
  const cred = classify(Object.assign(new Error('denied'), { name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }), 'b', 'k');
  assert.equal(cred.code, 'bad_credentials');
  assert.equal(cred.permanent, true);
  const net = classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'b', 'k');
  assert.equal(net.code, 'transient');
  assert.equal(net.permanent, false);
});

test('S3 conditional-write errors: 412 stays precondition_failed for the callers that re-read, 409 and expired tokens retry', () => {
  const s3err = (name: string, status: number) => Object.assign(new Error(`${name} from S3`), { name, $metadata: { httpStatusCode: status } });
  const lost = classify(s3err('PreconditionFailed', 412), 'b', 'models/m/production.json');
  assert.equal(lost.code, 'precondition_failed');
  assert.equal(lost.permanent, true, 'a lost race is final for that write: the caller re-reads and decides');
  assert.match(lost.message, /s3:\/\/b\/models\/m\/production\.json/);
  for (const e of [s3err('ConditionalRequestConflict', 409), s3err('', 409), s3err('OperationAborted', 409)]) {
    const c = classify(e, 'b', 'runs/r/run.json');
    assert.equal(c.code, 'transient', `${e.name || 409}`);
    assert.equal(c.permanent, false);
    assert.match(c.message, /s3:\/\/b\/runs\/r\/run\.json/);
    assert.match(c.message, /concurrent write/);
  }
  for (const status of [400, 403]) {
    const expired = classify(s3err('ExpiredToken', status), 'b', 'k');
    assert.equal(expired.code, 'transient', `ExpiredToken (${status})`);
    assert.equal(expired.permanent, false);
    assert.match(expired.message, /expired \(ExpiredToken\)/);
  }
  // Other refusals stay permanent.
  assert.equal(classify(s3err('AccessDenied', 403), 'b', 'k').code, 'bad_credentials');
  assert.equal(classify(s3err('InvalidToken', 400), 'b', 'k').permanent, true);
});
