/** Shared checks for the data-stage integration tests: subsets of the shared data sets and consistency checks. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ObjectStore } from '../../../lib/storage/object-store';
import { SPLITS, type Split } from '../../../lib/data/celeba-partition';
import type { DatasetManifest } from '../../../lib/data/dataset-manifest';
import { splitCsvLine } from '../../../lib/data/csv';
import { readShardIndex, readShardImage } from '../../../lib/data/shard-format';

import { SHARED_DATA } from '../../support/shared-data';

export const SHARED = SHARED_DATA;

/** Copies the first `identities` identity folders of a shared set (never symlinks: those are not followed). */
export function copySubset(set: string, identities: number, dest: string): string[] {
  const root = path.join(SHARED, set);
  const names = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .slice(0, identities);
  for (const n of names) fs.cpSync(path.join(root, n), path.join(dest, n), { recursive: true });
  return names;
}

/** Every image id appears in exactly one shard, splits are identity-disjoint, every pair refers to a sharded image. */
export async function checkDatasetConsistency(store: ObjectStore, sharded: { manifestKey: string }, pairs: { pairsKeys: Record<Split, string> }) {
  const manifest = await store.getJson<DatasetManifest>(sharded.manifestKey);
  const imageSplit = new Map<string, string>();
  const identitySplit = new Map<string, string>();
  for (const shard of manifest.shards) {
    const index = await readShardIndex(store, shard.index);
    const head = await store.head(shard.key);
    assert.equal(head?.size, index.bytes, `${shard.key} size matches its index`);
    assert.equal(index.sha256, shard.sha256);
    for (const e of index.entries) {
      assert.ok(!imageSplit.has(e.imageId), `${e.imageId} is in two shards`);
      imageSplit.set(e.imageId, shard.split);
      const prev = identitySplit.get(e.identity);
      assert.ok(prev === undefined || prev === shard.split, `identity ${e.identity} in ${prev} and ${shard.split}`);
      identitySplit.set(e.identity, shard.split);
      assert.equal(e.imageId.split('/')[0], e.identity);
    }
  }
  assert.equal(imageSplit.size, manifest.images);
  // One image per split read back by ranged GET is a real JPEG.
  const first = await readShardIndex(store, manifest.shards[0].index);
  const jpeg = await readShardImage(store, first.entries[0]);
  assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);

  const pairCounts: Record<string, { same: number; different: number }> = {};
  for (const split of SPLITS) {
    const text = (await store.getBuffer(pairs.pairsKeys[split])).toString('utf8');
    const lines = text.trim().split('\n');
    assert.equal(lines[0], 'a,b,label');
    let same = 0;
    let different = 0;
    for (const line of lines.slice(1)) {
      const [a, b, label] = splitCsvLine(line);
      assert.equal(imageSplit.get(a), split, `${a} of ${split}.csv is a ${split} shard image`);
      assert.equal(imageSplit.get(b), split, `${b} of ${split}.csv is a ${split} shard image`);
      assert.notEqual(a, b);
      assert.equal(label, a.split('/')[0] === b.split('/')[0] ? '1' : '0');
      if (label === '1') same++;
      else different++;
    }
    assert.equal(same, different, `${split} pairs are balanced`);
    pairCounts[split] = { same, different };
  }
  return { manifest, imageSplit, identitySplit, pairCounts };
}
