import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePairs } from '../../../lib/data/pairs';

/** A skewed population: one huge identity, many with 2-5 images, some singletons. */
function population(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  m.set('big', Array.from({ length: 400 }, (_, i) => `big/${i}.jpg`));
  for (let p = 0; p < 60; p++) m.set(`p${p}`, Array.from({ length: 2 + (p % 4) }, (_, i) => `p${p}/${i}.jpg`));
  for (let s = 0; s < 20; s++) m.set(`single${s}`, [`single${s}/0.jpg`]);
  return m;
}
const identityOf = (id: string) => id.split('/')[0];

test('pairs are balanced, labelled correctly, never self-pairs, never duplicated', () => {
  const { pairs, counts } = makePairs(population(), 300, 'seed');
  assert.equal(pairs.length, 300);
  assert.deepEqual(counts, { same: 150, different: 150 });
  const seen = new Set<string>();
  for (const p of pairs) {
    assert.notEqual(p.a, p.b);
    assert.equal(p.label, identityOf(p.a) === identityOf(p.b) ? 1 : 0);
    const key = [p.a, p.b].sort().join('|');
    assert.ok(!seen.has(key), `duplicate pair ${key}`);
    seen.add(key);
  }
});

test('same-person pairs are spread over identities, not dominated by the biggest', () => {
  const { pairs } = makePairs(population(), 300, 'seed');
  const per = new Map<string, number>();
  for (const p of pairs.filter((p) => p.label === 1)) per.set(identityOf(p.a), (per.get(identityOf(p.a)) ?? 0) + 1);
  assert.equal(per.size, 61, 'every identity with 2+ images contributes');
  assert.ok((per.get('big') ?? 0) <= 3, `big identity gave ${per.get('big')} of 150 same pairs`);
});

test('single-image identities only appear in different pairs', () => {
  const { pairs } = makePairs(population(), 2000, 's2');
  const singles = pairs.filter((p) => p.a.startsWith('single') || p.b.startsWith('single'));
  assert.ok(singles.length > 0);
  assert.ok(singles.every((p) => p.label === 0));
});

test('deterministic per seed, different across seeds', () => {
  const a = makePairs(population(), 200, 'x').pairs;
  assert.deepEqual(makePairs(population(), 200, 'x').pairs, a);
  assert.notDeepEqual(makePairs(population(), 200, 'y').pairs, a);
});

test('when same pairs run out, different pairs are cut to keep the balance', () => {
  const m = new Map([
    ['a', ['a/1', 'a/2', 'a/3']],
    ['b', ['b/1', 'b/2']],
    ['c', ['c/1']],
  ]);
  const { pairs, counts } = makePairs(m, 100, 'z');
  assert.deepEqual(counts, { same: 4, different: 4 }); // C(3,2) + C(2,2)
  assert.equal(pairs.length, 8);
  assert.deepEqual(makePairs(new Map([['solo', ['solo/1']]]), 10, 'z').counts, { same: 0, different: 0 });
});
