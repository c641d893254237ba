import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NON_RETRYABLE_ERROR_TYPES, retryPolicy } from '../../../lib/pipeline/retry';
import { PROJECT_ROOT } from '../../support/shared-data';

test('retryPolicy never retries any permanent error type, adds the extra ones once, and sets the attempts', () => {
  const p = retryPolicy({ maximumAttempts: 7 });
  assert.equal(p.maximumAttempts, 7);
  assert.deepEqual([...(p.nonRetryableErrorTypes ?? [])].sort(), [...NON_RETRYABLE_ERROR_TYPES].sort());
  for (const t of ['unsafe_archive', 'bad_credentials', 'forbidden', 'checksum_mismatch']) assert.ok(p.nonRetryableErrorTypes?.includes(t), t);
  assert.equal(p.initialInterval, '2s');
  const withExtra = retryPolicy({ maximumAttempts: 2, extraNonRetryable: ['bad_image', 'bad_input'], initialInterval: '1s' });
  assert.deepEqual(withExtra.nonRetryableErrorTypes, [...NON_RETRYABLE_ERROR_TYPES, 'bad_image']);
  assert.equal(withExtra.initialInterval, '1s');
  // Retrying is never for the transient classes.
  assert.ok(!p.nonRetryableErrorTypes?.includes('transient'));
  assert.ok(!p.nonRetryableErrorTypes?.includes('precondition_failed'));
});

test('retryPolicy refuses a maximumAttempts that is not a positive integer, naming it', () => {
  for (const bad of [0, -1, 2.5, Number.NaN]) assert.throws(() => retryPolicy({ maximumAttempts: bad }), /maximumAttempts must be an integer >= 1/);
});

test('every workflow builds each retry policy with retryPolicy and spells out no non-retryable list of its own', () => {
  const dir = path.join(PROJECT_ROOT, 'workflows');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
  assert.ok(files.length >= 5, `workflow sources found in ${dir}: ${files.join(', ')}`);
  for (const f of files) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    assert.ok(!/nonRetryableErrorTypes/.test(src), `${f} lists its own nonRetryableErrorTypes`);
    const proxies = src.match(/proxyActivities</g)?.length ?? 0;
    const built = src.match(/retry: retryPolicy\(/g)?.length ?? 0;
    assert.equal(built, proxies, `${f}: ${proxies} proxyActivities, ${built} with retry: retryPolicy(...)`);
  }
});
