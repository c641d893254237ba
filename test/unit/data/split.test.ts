import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityDisjointSplit } from '../../../lib/data/split';
import { SiamfaceError } from '../../../lib/errors';

const ids = Array.from({ length: 1000 }, (_, i) => `person_${i}`);

test('every identity gets exactly one split, sizes follow the fractions', () => {
  const split = identityDisjointSplit(ids, { seed: 3, fractions: { train: 0.7, val: 0.2, test: 0.1 } });
  assert.equal(split.size, ids.length);
  const count = { train: 0, val: 0, test: 0 };
  for (const s of split.values()) count[s]++;
  assert.deepEqual(count, { train: 700, val: 200, test: 100 });
});

test('deterministic: same seed same split whatever the input order; another seed differs', () => {
  const a = identityDisjointSplit(ids, { seed: 'x' });
  const b = identityDisjointSplit([...ids].reverse().concat(ids.slice(0, 10)), { seed: 'x' });
  assert.deepEqual([...a].sort(), [...b].sort());
  const c = identityDisjointSplit(ids, { seed: 'y' });
  const moved = ids.filter((id) => a.get(id) !== c.get(id)).length;
  assert.ok(moved > 100, `only ${moved} identities changed split with another seed`);
});

test('small sets still get val and test identities', () => {
  const split = identityDisjointSplit(['a', 'b', 'c', 'd', 'e'], { seed: 0 });
  const values = [...split.values()];
  assert.ok(values.includes('val') && values.includes('test') && values.includes('train'), values.join());
});

test('bad fractions are rejected with their values', () => {
  assert.throws(() => identityDisjointSplit(ids, { seed: 0, fractions: { train: 0.8, val: 0.3, test: 0.1 } }), (e: unknown) => e instanceof SiamfaceError && /add up to 1/.test(e.message));
  assert.throws(() => identityDisjointSplit(ids, { seed: 0, fractions: { train: 1.2, val: -0.1, test: -0.1 } }), (e: unknown) => e instanceof SiamfaceError && /train=1\.2/.test(e.message));
});
