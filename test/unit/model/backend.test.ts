import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, BACKEND_ENV } from '../../../lib/model/backend';
import { SiamfaceError } from '../../../lib/errors';

function resolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

test('auto picks the fastest loadable backend and reports why faster ones failed', async () => {
  const logs: { message: string; fields?: Record<string, unknown> }[] = [];
  const sel = await selectBackend('auto', { env: {}, log: (message, fields) => logs.push({ message, fields }) });
  assert.equal(sel.backend, tf.getBackend());
  assert.equal(logs.length, 1);
  assert.equal(logs[0].fields?.backend, sel.backend);
  if (resolvable('@tensorflow/tfjs-node-gpu') || resolvable('@tensorflow/tfjs-node')) {
    assert.equal(sel.backend, 'tensorflow');
    assert.equal(sel.native, true);
    assert.match(sel.detail, /native TensorFlow/);
    if (!resolvable('@tensorflow/tfjs-node-gpu')) {
      assert.equal(sel.gpu, false);
      assert.deepEqual(sel.fellBackFrom, ['tfjs-node-gpu']);
    }
  } else {
    // This machine: no libtensorflow, so wasm after two reported failures.
    assert.equal(sel.backend, 'wasm');
    assert.equal(sel.native, false);
    assert.equal(sel.gpu, false);
    assert.deepEqual(sel.fellBackFrom, ['tfjs-node-gpu', 'tfjs-node']);
    assert.match(sel.attempts[0].error, /Cannot find module '@tensorflow\/tfjs-node-gpu'/);
    assert.match(sel.detail, /SIMD/);
    assert.ok((logs[0].fields?.unavailable as string[]).length === 2);
  }
  // The backend computes.
  assert.deepEqual(Array.from(tf.add(tf.tensor1d([1, 2]), 1).dataSync()), [2, 3]);
});

test(`${BACKEND_ENV} overrides the preference passed in code`, async () => {
  const sel = await selectBackend('wasm', { env: { [BACKEND_ENV]: 'cpu' }, log: () => undefined });
  assert.equal(sel.backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(sel.preference, 'cpu');
  assert.equal(sel.fellBackFrom, undefined);
  const wasm = await selectBackend('wasm', { env: {}, log: () => undefined });
  assert.equal(wasm.backend, 'wasm');
});

test('an unknown backend name is a bad_input error that names its source', async () => {
  await assert.rejects(selectBackend('auto', { env: { [BACKEND_ENV]: 'cuda' }, log: () => undefined }), (e: unknown) =>
    e instanceof SiamfaceError && e.code === 'bad_input' && e.message.includes(BACKEND_ENV) && e.message.includes("'cuda'"));
});
