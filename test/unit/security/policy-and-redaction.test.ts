/** The input policy's configuration surface and the one redaction (pure code; the attack suite runs them for real). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { DefaultFailureConverter, defaultPayloadConverter } from '@temporalio/common';
import { loadInputPolicy } from '../../../lib/security/input-policy';
import { allowedLocalPath } from '../../../lib/security/local-roots';
import { checkS3Output, checkS3Read } from '../../../lib/security/s3-scope';
import { redactSecrets, registerSecret, secretValues } from '../../../lib/redact';
import { readLines } from '../../../lib/verify/batch-input';
import { failureConverter } from '../../../workers/failure-converter';
import { RedactingPayloadCodec } from '../../../workers/redacting-codec';
import { SiamfaceError } from '../../../lib/errors';

const code = (c: string) => (e: unknown) => e instanceof SiamfaceError && e.code === c;

test('defaults refuse: no local roots, own bucket only, outputs under exports/, https, 3 redirects', () => {
  const p = loadInputPolicy({});
  assert.deepEqual(p.localRoots, { dataset: [], image: [] });
  assert.deepEqual(p.s3Read, []);
  assert.deepEqual(p.s3Output, [{ bucket: '', prefix: 'exports/' }]);
  assert.equal(p.url.allowHttp, false);
  assert.equal(p.url.maxRedirects, 3);
  assert.ok(p.url.connectTimeoutMs > 0 && p.url.idleTimeoutMs > 0 && p.archive.maxEntries > 0);
});

test('a policy file, with the environment overriding its fields; unknown fields and __proto__ are refused by name', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-policy-'));
  const file = path.join(dir, 'policy.json');
  fs.writeFileSync(file, JSON.stringify({ localRoots: { dataset: [dir] }, s3: { read: ['s3://shared-faces/public/'] }, url: { maxRedirects: 1, allowPrivate: ['10.1.0.0/16'] } }));
  const p = loadInputPolicy({ SIAMFACE_POLICY_FILE: file, SIAMFACE_URL_MAX_REDIRECTS: '2' });
  assert.equal(p.localRoots.dataset[0].real, fs.realpathSync(dir));
  assert.deepEqual(p.s3Read, [{ bucket: 'shared-faces', prefix: 'public/' }]);
  assert.equal(p.url.maxRedirects, 2, 'the variable wins over the file');
  assert.deepEqual(p.url.allowPrivate, ['10.1.0.0/16']);
  fs.writeFileSync(file, '{"url": {"__proto__": {"allowHttp": true}}}');
  assert.throws(() => loadInputPolicy({ SIAMFACE_POLICY_FILE: file }), /input policy: url\.__proto__: unknown field/);
  fs.writeFileSync(file, '{"localRoots": {"dataset": ["relative/dir"]}}');
  assert.throws(() => loadInputPolicy({ SIAMFACE_POLICY_FILE: file }), /SIAMFACE_DATASET_ROOTS: 'relative\/dir' must be an absolute path/);
  fs.writeFileSync(file, 'secret-token-in-a-broken-file');
  assert.throws(() => loadInputPolicy({ SIAMFACE_POLICY_FILE: file }), (e: Error) => /is not a readable JSON file/.test(e.message) && !e.message.includes('secret-token'));
  assert.throws(() => loadInputPolicy({ SIAMFACE_URL_ALLOW_PRIVATE: 'not-an-ip' }), /SIAMFACE_URL_ALLOW_PRIVATE: 'not-an-ip' is not an IP address/);
  assert.throws(() => loadInputPolicy({ SIAMFACE_S3_OUTPUT_PREFIXES: 's3://bucket/../x' }), /must not contain '\.' or '\.\.' segments/);
});

test('local roots: lexical check first (nothing touched), realpath second (symlinks out, dangling links)', async () => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-roots-')));
  fs.writeFileSync(path.join(root, 'a.jpg'), 'x');
  fs.symlinkSync('/etc/hostname', path.join(root, 'out.jpg'));
  fs.symlinkSync('/etc/no-such-target', path.join(root, 'dangling.jpg'));
  const p = loadInputPolicy({ SIAMFACE_IMAGE_ROOTS: root });
  assert.equal(await allowedLocalPath(p, 'image', path.join(root, 'a.jpg'), 'image'), path.join(root, 'a.jpg'));
  await assert.rejects(allowedLocalPath(p, 'image', `${root}/../${path.basename(root)}-sibling/x.jpg`, 'image'), code('forbidden'));
  await assert.rejects(allowedLocalPath(p, 'image', path.join(root, 'out.jpg'), 'image'), (e: Error) => /through a symlink/.test(e.message));
  await assert.rejects(allowedLocalPath(p, 'image', path.join(root, 'dangling.jpg'), 'image'), code('forbidden'));
  await assert.rejects(allowedLocalPath(p, 'image', path.join(root, 'missing.jpg'), 'image'), code('not_found'));
  await assert.rejects(allowedLocalPath(p, 'dataset', path.join(root, 'a.jpg'), 'dataset.source.location'), (e: Error) => /no local folders are allowed/.test(e.message) && /SIAMFACE_DATASET_ROOTS/.test(e.message));
});

test('S3 scopes: own bucket and listed prefixes for reads; outputs only under output prefixes, never the reserved layout', () => {
  const p = loadInputPolicy({ SIAMFACE_S3_READ_PREFIXES: 's3://shared-faces/public/' });
  checkS3Read(p, 'own', 'own', 'anything', 'x');
  checkS3Read(p, 'own', 'shared-faces', 'public/a.jpg', 'x');
  assert.throws(() => checkS3Read(p, 'own', 'shared-faces', 'private/a.jpg', 'x'), code('forbidden'));
  assert.throws(() => checkS3Read(p, 'own', 'own', 'a/../b', 'x'), code('forbidden'));
  checkS3Output(p, 'own', 'own', 'exports/job/', 'x');
  for (const key of ['models/m/versions/1/', 'jobs/other/', '', 'datasets/']) assert.throws(() => checkS3Output(p, 'own', 'own', key, 'x'), code('forbidden'), key);
  assert.throws(() => checkS3Output(p, 'own', 'elsewhere', 'exports/', 'x'), code('forbidden'));
  const everywhere = loadInputPolicy({ SIAMFACE_S3_OUTPUT_PREFIXES: 's3://own/' });
  assert.throws(() => checkS3Output(everywhere, 'own', 'own', 'models/x/', 'x'), (e: Error) => /outputs never go under/.test(e.message));
});

test('one redaction: URL userinfo and query strings in any text, every env credential incl. AWS_SESSION_TOKEN, registered keys', () => {
  const env = { AWS_SECRET_ACCESS_KEY: 'aws-secret-123456', AWS_SESSION_TOKEN: 'session-token-abcdef', KAGGLE_KEY: 'short' };
  registerSecret('key-from-kaggle-json-999');
  const secrets = secretValues(env);
  assert.ok(secrets.includes('session-token-abcdef') && secrets.includes('key-from-kaggle-json-999') && !secrets.includes('short'));
  const text = 'failed https://bob:hunter22@host.example/p/x.zip?X-Amz-Signature=abc123 with aws-secret-123456, session-token-abcdef and key-from-kaggle-json-999; s3://b/k kept';
  const out = redactSecrets(text, secrets);
  assert.equal(out, 'failed https://host.example/p/x.zip?<redacted> with ***, *** and ***; s3://b/k kept');
});

test('the failure converter redacts messages, stack traces and causes before they reach a history', () => {
  registerSecret('converter-secret-4711');
  const err = new Error('GET https://u:p4ss@h.example/x?sig=1 failed with converter-secret-4711', { cause: new Error('inner converter-secret-4711') });
  const f = failureConverter.errorToFailure(err, defaultPayloadConverter);
  const all = JSON.stringify(f);
  assert.ok(!all.includes('converter-secret-4711') && !all.includes('p4ss') && !all.includes('sig=1'), all);
  assert.ok(failureConverter instanceof DefaultFailureConverter);
});

test('the payload codec replaces held credentials (also JSON-escaped) and passes everything else unchanged', async () => {
  registerSecret('codec-"secret"-1234');
  const codec = new RedactingPayloadCodec();
  const payloads = [defaultPayloadConverter.toPayload({ msg: 'has codec-"secret"-1234 inside', url: 'https://h/x?sig=keep' }), defaultPayloadConverter.toPayload({ clean: true })];
  const [a, b] = await codec.encode(payloads);
  const decoded = defaultPayloadConverter.fromPayload<{ msg: string; url: string }>(a);
  assert.equal(decoded.msg, 'has *** inside');
  assert.equal(decoded.url, 'https://h/x?sig=keep', 'a URL in a payload is data, not changed');
  assert.equal(b, payloads[1]);
});

test('readLines caps the line length: a newline-free input fails naming the input and the line', async () => {
  const endless = Readable.from((function* () {
    for (let i = 0; i < 100; i++) yield Buffer.alloc(4096, 0x61);
  })());
  await assert.rejects(async () => {
    for await (const _l of readLines(endless, 's3://b/jobs/j/input.csv', 0, 1, 64 * 1024)) void _l;
  }, /s3:\/\/b\/jobs\/j\/input\.csv line 1 is longer than 65536 bytes/);
});
