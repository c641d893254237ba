import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { SiamfaceError } from '../../../lib/errors';
import { listArchive, readArchive, safeEntryPath } from '../../../lib/data/archive';
import { readAll } from '../../../lib/storage/object-store';
import { writeZip } from '../../support/zip-writer';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'siamface-archive-test-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const isUnsafe = (entry: RegExp) => (err: unknown) => {
  assert.ok(err instanceof SiamfaceError);
  assert.equal(err.code, 'unsafe_archive');
  assert.equal(err.permanent, true);
  assert.match(err.message, entry);
  return true;
};

test('safeEntryPath normalises harmless names and rejects escaping ones', () => {
  assert.equal(safeEntryPath('./a/b.jpg'), 'a/b.jpg');
  assert.equal(safeEntryPath('a//b/./c.jpg'), 'a/b/c.jpg');
  assert.equal(safeEntryPath('a\\b.jpg'), 'a/b.jpg');
  assert.equal(safeEntryPath('a..b/c..jpg'), 'a..b/c..jpg');
  for (const bad of ['../evil', 'a/../../evil', '/etc/passwd', 'C:\\x.jpg', 'a\\..\\..\\evil', 'a\0b']) {
    assert.throws(() => safeEntryPath(bad, 'x.zip'), isUnsafe(/x\.zip entry/), bad);
  }
});

async function collect(file: string) {
  const got: Record<string, string> = {};
  const r = await readArchive(file, path.basename(file), async (e, open) => {
    got[e.path] = (await readAll(await open())).toString();
  });
  return { got, ...r };
}

test('zip: entries are read in order, deflated and stored alike; symlinks are skipped', async () => {
  const file = path.join(tmp, 'ok.zip');
  writeZip(file, [
    { name: 'p1/', data: Buffer.alloc(0) },
    { name: 'p1/a.jpg', data: Buffer.from('A'.repeat(5000)) },
    { name: 'p2/b.jpg', data: Buffer.from('bee'), deflate: false },
    { name: 'p2/link.jpg', data: Buffer.from('/etc/passwd'), symlink: true },
  ]);
  const { got, kind, skipped } = await collect(file);
  assert.equal(kind, 'zip');
  assert.deepEqual(Object.keys(got), ['p1/a.jpg', 'p2/b.jpg']);
  assert.equal(got['p1/a.jpg'], 'A'.repeat(5000));
  assert.deepEqual(skipped, [{ path: 'p2/link.jpg', reason: 'symlink entry not followed' }]);
});

test('zip with ../evil is rejected before any entry is extracted', async () => {
  const file = path.join(tmp, 'evil.zip');
  writeZip(file, [
    { name: 'p1/a.jpg', data: Buffer.from('a') },
    { name: '../evil', data: Buffer.from('x') },
  ]);
  let visited = 0;
  await assert.rejects(readArchive(file, 'evil.zip', async () => void visited++), isUnsafe(/'\.\.\/evil'.*'\.\.'/));
  assert.equal(visited, 0);
  await assert.rejects(listArchive(file, 'evil.zip'), isUnsafe(/evil/));
});

test('zip with an absolute path is rejected', async () => {
  const file = path.join(tmp, 'abs.zip');
  writeZip(file, [{ name: '/tmp/evil.jpg', data: Buffer.from('x') }]);
  await assert.rejects(readArchive(file, 'abs.zip', async () => undefined), isUnsafe(/absolute path/));
});

async function makeTar(entries: (Partial<tar.Header> & { name: string })[], bodies: (string | null)[]): Promise<Buffer> {
  const pack = tar.pack();
  entries.forEach((h, i) => {
    const body = bodies[i];
    if (body === null) pack.entry(h);
    else pack.entry(h, body);
  });
  pack.finalize();
  return readAll(pack as unknown as AsyncIterable<Uint8Array>);
}

test('tar and tar.gz: files read, links skipped, ../ rejected', async () => {
  const body = await makeTar(
    [{ name: 'x/1.jpg' }, { name: 'x/dir', type: 'directory' }, { name: 'x/ln.jpg', type: 'symlink', linkname: '../../etc/passwd' }, { name: 'x/2.jpg' }],
    ['one', null, null, 'two'],
  );
  for (const [name, data] of [['a.tar', body], ['a.tar.gz', gzipSync(body)]] as const) {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, data);
    const { got, skipped, kind } = await collect(file);
    assert.equal(kind, name.endsWith('gz') ? 'tar.gz' : 'tar');
    assert.deepEqual(got, { 'x/1.jpg': 'one', 'x/2.jpg': 'two' });
    assert.deepEqual(skipped, [{ path: 'x/ln.jpg', reason: 'symlink entry not followed' }]);
  }
  const evil = path.join(tmp, 'evil.tar');
  fs.writeFileSync(evil, await makeTar([{ name: 'x/1.jpg' }, { name: 'x/../../evil' }], ['one', 'bad']));
  let visited = 0;
  await assert.rejects(readArchive(evil, 'evil.tar', async () => void visited++), isUnsafe(/evil/));
  assert.equal(visited, 0);
});

test('a file that is no archive is bad input naming it', async () => {
  const file = path.join(tmp, 'notes.txt');
  fs.writeFileSync(file, 'hello, this is not an archive at all'.repeat(20));
  await assert.rejects(readArchive(file, 'notes.txt', async () => undefined), (err: unknown) => err instanceof SiamfaceError && err.code === 'bad_input' && /notes\.txt/.test(err.message));
});
