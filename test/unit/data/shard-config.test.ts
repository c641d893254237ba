/** The shard config (hashed into the shard set's key): what decides whether two runs may share shards. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shardConfigOf } from '../../../lib/data/shard-dataset';

function withDetector<T>(value: string | undefined, fn: () => T): T {
  const before = process.env.SIAMFACE_FACE_DETECTOR;
  if (value === undefined) delete process.env.SIAMFACE_FACE_DETECTOR;
  else process.env.SIAMFACE_FACE_DETECTOR = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.SIAMFACE_FACE_DETECTOR;
    else process.env.SIAMFACE_FACE_DETECTOR = before;
  }
}

test('face crops record the operator\'s detector, so faces found by another detector make another shard set', () => {
  const blaze = withDetector(undefined, () => shardConfigOf({ datasetId: 'd', crop: 'face-chip' }));
  const ssd = withDetector('ssd', () => shardConfigOf({ datasetId: 'd', crop: 'face-chip' }));
  assert.equal(blaze.faceDetector, 'blazeface');
  assert.equal(ssd.faceDetector, 'ssd');
  assert.equal(withDetector('ssd', () => shardConfigOf({ datasetId: 'd', crop: 'face-align' })).faceDetector, 'ssd');
});

test('centre crops detect nothing: their config (and shard set) does not depend on the detector', () => {
  const a = withDetector(undefined, () => shardConfigOf({ datasetId: 'd', crop: 'centre' }));
  const b = withDetector('ssd', () => shardConfigOf({ datasetId: 'd', crop: 'centre' }));
  assert.deepEqual(a, b);
  assert.equal('faceDetector' in a, false);
});
