import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { buildShardTar } from '../../../lib/data/shard-format';

test('shard tar: standard tar readers see the image ids and bytes; offsets point at the data', async () => {
  const longId = `${'x'.repeat(60)}/${'y'.repeat(70)}.jpg`; // > 100 bytes: ustar prefix field
  const veryLongId = `${'z'.repeat(120)}/${'w'.repeat(120)}.jpg`; // too long for ustar: PAX header
  const images = [
    { imageId: 'Alice/Alice_0001.jpg', identity: 'Alice', source: 'Alice/Alice_0001.jpg', data: Buffer.from('first image bytes') },
    { imageId: longId, identity: 'x'.repeat(60), source: 's/1', data: Buffer.alloc(1030, 7) },
    { imageId: veryLongId, identity: 'z', source: 's/2', data: Buffer.alloc(512, 9) },
    { imageId: 'Zoë/Zoë_0002.jpg', identity: 'Zoë', source: 's/3', data: Buffer.alloc(0) },
  ];
  const { tar: bytes, entries } = buildShardTar(images);
  assert.equal(bytes.length % 512, 0);
  entries.forEach((e, i) => assert.ok(bytes.subarray(e.offset, e.offset + e.length).equals(images[i].data), e.imageId));

  const extract = tar.extract();
  Readable.from([bytes]).pipe(extract as unknown as NodeJS.WritableStream);
  const seen: { name: string; data: Buffer }[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    seen.push({ name: entry.header.name, data: Buffer.concat(chunks) });
  }
  assert.deepEqual(seen.map((s) => s.name), images.map((i) => i.imageId));
  seen.forEach((s, i) => assert.ok(s.data.equals(images[i].data)));
});

test('shard tar is deterministic', () => {
  const imgs = [{ imageId: 'a/1.jpg', identity: 'a', source: 'a/1.jpg', data: Buffer.from('x') }];
  assert.ok(buildShardTar(imgs).tar.equals(buildShardTar(imgs).tar));
});
