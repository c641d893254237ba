/**
 * The one download helper against a real loopback HTTP server: bytes go to `<file>.part` and only a complete download
 * is renamed to `<file>`; a body that breaks off, an abort or a policy refusal leaves neither file behind; where the
 * server names the version (ETag) and honours Range, a broken-off download resumes where it stopped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SiamfaceError } from '../../../lib/errors';
import { loadInputPolicy } from '../../../lib/security/input-policy';
import { downloadToFile } from '../../../lib/storage/download';

const LOOPBACK = loadInputPolicy({ SIAMFACE_URL_ALLOW_HTTP: 'true', SIAMFACE_URL_ALLOW_PRIVATE: '127.0.0.1/32' });
const BODY = Buffer.alloc(256 * 1024, 7);

let server: http.Server;
let base: string;
let dir: string;

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/whole') return void res.writeHead(200, { 'content-length': String(BODY.length) }).end(BODY);
    if (req.url === '/breaks-off') {
      // Declares the whole body, sends a part, then drops the connection.
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.write(BODY.subarray(0, 64 * 1024), () => res.destroy());
      return;
    }
    if (req.url === '/stalls') {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.write(BODY.subarray(0, 1024)); // then nothing: the test aborts it
      req.on('close', () => res.destroy());
      return;
    }
    if (req.url?.startsWith('/resumable/')) return resumable(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-download-'));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

const leftovers = (file: string) => [file, `${file}.part`, `${file}.part.json`].filter((f) => fs.existsSync(f));

/**
 * /resumable/<mode>: version "v1" of BODY (or "v2", another body, once `changed`). The first answer breaks off after
 * 64 KiB; later ones honour `Range` when `If-Range` names the current version (mode `ranges`), ignore it (mode
 * `whole`, a server without range support), or answer a range from the wrong offset (mode `wrong-start`).
 */
const V2 = Buffer.alloc(BODY.length, 9);
const served: Array<{ url: string; range?: string; ifRange?: string }> = [];
let changed = false;
function resumable(req: http.IncomingMessage, res: http.ServerResponse) {
  const mode = req.url!.split('/')[2];
  const [etag, body] = changed ? ['"v2"', V2] : ['"v1"', BODY];
  served.push({ url: req.url!, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
  const first = served.filter((s) => s.url === req.url).length === 1;
  if (first) {
    res.writeHead(200, { 'content-length': String(body.length), etag });
    res.write(body.subarray(0, 64 * 1024), () => res.destroy());
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (mode !== 'whole' && m && req.headers['if-range'] === etag) {
    const from = mode === 'wrong-start' ? Number(m[1]) - 1 : Number(m[1]);
    res.writeHead(206, { 'content-length': String(body.length - from), 'content-range': `bytes ${from}-${body.length - 1}/${body.length}`, etag });
    return void res.end(body.subarray(from));
  }
  res.writeHead(200, { 'content-length': String(body.length), etag }).end(body);
}

test('a download that breaks off resumes from its .part with Range + If-Range, and the file is whole', async () => {
  const file = path.join(dir, 'resume', 'archive.zip');
  await assert.rejects(downloadToFile(`${base}/resumable/ranges`, file, { policy: LOOPBACK, what: 'test archive' }));
  const kept = fs.statSync(`${file}.part`).size;
  assert.ok(kept > 0 && kept < BODY.length, `kept ${kept} bytes`);
  assert.ok(!JSON.stringify(JSON.parse(fs.readFileSync(`${file}.part.json`, 'utf8'))).includes('resumable'), 'the state holds a hash of the URL, not the URL');
  const r = await downloadToFile(`${base}/resumable/ranges`, file, { policy: LOOPBACK, what: 'test archive' });
  assert.equal(r.resumedFrom, kept);
  assert.equal(r.bytes, BODY.length);
  assert.deepEqual(served.at(-1), { url: '/resumable/ranges', range: `bytes=${kept}-`, ifRange: '"v1"' });
  assert.ok(fs.readFileSync(file).equals(BODY));
  assert.deepEqual(leftovers(file), [file]);
});

test('a resume the server cannot honour starts over: no range support, a changed file, a range from the wrong byte', async () => {
  const whole = path.join(dir, 'no-ranges', 'archive.zip');
  await assert.rejects(downloadToFile(`${base}/resumable/whole`, whole, { policy: LOOPBACK, what: 'test archive' }));
  const r = await downloadToFile(`${base}/resumable/whole`, whole, { policy: LOOPBACK, what: 'test archive' });
  assert.equal(r.resumedFrom, undefined);
  assert.ok(fs.readFileSync(whole).equals(BODY), 'the whole body replaced the .part');

  const moved = path.join(dir, 'changed', 'archive.zip');
  await assert.rejects(downloadToFile(`${base}/resumable/changed`, moved, { policy: LOOPBACK, what: 'test archive' }));
  changed = true;
  try {
    await downloadToFile(`${base}/resumable/changed`, moved, { policy: LOOPBACK, what: 'test archive' });
  } finally {
    changed = false;
  }
  assert.ok(fs.readFileSync(moved).equals(V2), 'only the new version, never v1 bytes joined with v2 bytes');

  const wrong = path.join(dir, 'wrong-start', 'archive.zip');
  await assert.rejects(downloadToFile(`${base}/resumable/wrong-start`, wrong, { policy: LOOPBACK, what: 'test archive' }));
  await assert.rejects(downloadToFile(`${base}/resumable/wrong-start`, wrong, { policy: LOOPBACK, what: 'test archive' }), /got a range from \d+; starting over/);
  assert.deepEqual(leftovers(wrong), [], 'the mismatched .part is dropped, so the next call starts from byte 0');
});

test('a complete download is renamed from .part to its name, replacing a stale .part', async () => {
  const file = path.join(dir, 'complete', 'archive.zip');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.part`, 'left by an earlier attempt that broke off, longer than nothing');
  const seen: number[] = [];
  const r = await downloadToFile(`${base}/whole`, file, { policy: LOOPBACK, what: 'test archive', onBytes: (b, total) => seen.push(b, total ?? -1) });
  assert.equal(r.bytes, BODY.length);
  assert.ok(fs.readFileSync(file).equals(BODY));
  assert.deepEqual(leftovers(file), [file]);
  assert.equal(seen.at(-2), BODY.length, 'onBytes saw every byte');
  assert.equal(seen.at(-1), BODY.length, 'with the declared size');
});

const brokenOff = (err: Error, bytes: number) => new SiamfaceError('transient', `broke off after ${bytes} bytes: ${err.message}`, { permanent: false });

test('a body that breaks off leaves no file, neither final nor .part', async () => {
  const file = path.join(dir, 'broken', 'archive.zip');
  await assert.rejects(downloadToFile(`${base}/breaks-off`, file, { policy: LOOPBACK, what: 'test archive' }));
  assert.deepEqual(leftovers(file), []);
  await assert.rejects(downloadToFile(`${base}/breaks-off`, file, { policy: LOOPBACK, what: 'test archive', brokenOff }), (e: unknown) => e instanceof SiamfaceError && e.code === 'transient' && /broke off after \d+ bytes/.test(e.message));
  assert.deepEqual(leftovers(file), []);
});

test('an abort mid-download leaves no file', async () => {
  const file = path.join(dir, 'aborted', 'archive.zip');
  const ac = new AbortController();
  let started = false;
  await assert.rejects(
    downloadToFile(`${base}/stalls`, file, {
      policy: LOOPBACK,
      what: 'test archive',
      signal: ac.signal,
      onBytes: () => {
        if (!started) setImmediate(() => ac.abort());
        started = true;
      },
    }),
  );
  assert.ok(started, 'the download had begun writing');
  assert.deepEqual(leftovers(file), []);
});

test('an error that is not a SiamfaceError is thrown as is, or as brokenOff makes it', async () => {
  const blocker = path.join(dir, 'not-a-dir');
  fs.writeFileSync(blocker, 'a file where the download folder would be');
  await assert.rejects(downloadToFile(`${base}/whole`, path.join(blocker, 'archive.zip'), { policy: LOOPBACK, what: 'test archive' }), (e: unknown) => !(e instanceof SiamfaceError) && typeof (e as NodeJS.ErrnoException).code === 'string');
  // open(.part, 'w') fails: the .part is a link into a folder that does not exist.
  const file = path.join(dir, 'unwritable', 'archive.zip');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.symlinkSync(path.join(dir, 'missing', 'x'), `${file}.part`);
  await assert.rejects(
    downloadToFile(`${base}/whole`, file, { policy: LOOPBACK, what: 'test archive', brokenOff }),
    (e: unknown) => e instanceof SiamfaceError && e.code === 'transient' && /broke off after \d+ bytes: ENOENT/.test(e.message),
  );
  assert.deepEqual(leftovers(file), []);
});

test('a URL the policy refuses is refused before anything is written', async () => {
  const file = path.join(dir, 'refused', 'archive.zip');
  await assert.rejects(downloadToFile(`${base}/whole`, file, { policy: loadInputPolicy({}), what: 'test archive' }), (e: unknown) => e instanceof SiamfaceError && e.code === 'forbidden');
  assert.deepEqual(leftovers(file), []);
});
