import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addChunkCounts, errorTotal, tallyRows } from '../../../lib/verify/row-tally';
import { emptyCounters } from '../../../lib/verify/batch-status';
import type { BatchResultRow } from '../../../lib/verify/types';

const ok = (row: number, verified: boolean, label?: number): BatchResultRow => ({ row, a: 'a.jpg', b: 'b.jpg', verified, distance: 0.5, confidence: 0.9, ...(label === undefined ? {} : { label }) });
const failed = (row: number, code: 'no_face' | 'not_found'): BatchResultRow => ({ row, a: 'a.jpg', b: 'b.jpg', label: 1, error: { code, message: `${code} in a.jpg` } });

test('tallyRows counts decisions, errors by code and labelled accuracy; errored rows are never labelled', () => {
  const t = tallyRows([ok(0, true, 1), ok(1, true, 0), ok(2, false, 0), ok(3, false), failed(4, 'no_face'), failed(5, 'no_face'), failed(6, 'not_found')]);
  assert.deepEqual(t, { rows: 7, verified: 2, notVerified: 2, errors: { no_face: 2, not_found: 1 }, labelled: 3, correct: 2 });
  assert.equal(errorTotal(t.errors), 3);
});

test('an empty result set tallies to zeros', () => {
  assert.deepEqual(tallyRows([]), { rows: 0, verified: 0, notVerified: 0, errors: {}, labelled: 0, correct: 0 });
  assert.equal(errorTotal({}), 0);
});

test('addChunkCounts adds chunks to the workflow counters: totals, errors by code and their sum', () => {
  const counters = emptyCounters();
  addChunkCounts(counters, { rows: 5, verified: 2, notVerified: 1, errors: { no_face: 2 }, imagesEmbedded: 8, imagesCached: 2 });
  addChunkCounts(counters, { rows: 4, verified: 0, notVerified: 1, errors: { no_face: 1, not_found: 2 } });
  addChunkCounts(counters, { rows: 3, verified: 3, notVerified: 0, errors: {}, imagesEmbedded: 0, imagesCached: 6 });
  assert.deepEqual(counters, { pairsDone: 12, verified: 5, notVerified: 2, errors: 5, errorsByCode: { no_face: 3, not_found: 2 }, chunksDone: 3, imagesEmbedded: 8, imagesCached: 8 });
});

test('a chunk summarised by tallyRows adds the same counts as its rows', () => {
  const t = tallyRows([ok(0, true, 1), ok(1, false), failed(2, 'not_found')]);
  const counters = emptyCounters();
  addChunkCounts(counters, t);
  assert.deepEqual(counters, { pairsDone: 3, verified: 1, notVerified: 1, errors: 1, errorsByCode: { not_found: 1 }, chunksDone: 1, imagesEmbedded: 0, imagesCached: 0 });
});

test('counters carried from a job started before the image counts existed count from zero', () => {
  const { imagesEmbedded: _e, imagesCached: _c, ...old } = emptyCounters();
  const counters = old as ReturnType<typeof emptyCounters>;
  addChunkCounts(counters, { rows: 1, verified: 1, notVerified: 0, errors: {}, imagesEmbedded: 2, imagesCached: 0 });
  assert.equal(counters.imagesEmbedded, 2);
  assert.equal(counters.imagesCached, 0);
});
