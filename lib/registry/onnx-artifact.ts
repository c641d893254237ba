/**
 * The ONNX copy of a registered version's embedding model, for onnxruntime serving (6-12x the tfjs
 * wasm backend on CPU). Exported once per version after it is published; written only after a parity
 * check against tfjs on random inputs. `onnx.json` beside the card records the outcome either way:
 * a version whose export failed still serves through tfjs, and the reason is on record.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import type { ObjectStore } from '../storage/object-store';
import type { RunContext } from '../progress';
import { loadModelFromStore } from '../model/io';
import { ensureBackend } from '../model/backend';
import { exportToOnnx } from '../infer/onnx-export';
import { OnnxEngine, TfjsEngine } from '../infer/engine';
import { versionPrefix } from './keys';
import { SiamfaceError } from '../errors';

export const ONNX_FILE = 'model.onnx';
export const ONNX_RECORD_FILE = 'onnx.json';
/** Largest allowed |onnx - tfjs| over the parity inputs' embeddings. */
export const ONNX_PARITY_TOLERANCE = 1e-4;

export type OnnxRecord =
  | { status: 'ready'; path: typeof ONNX_FILE; bytes: number; sha256: string; parity: { inputs: number; maxAbsDiff: number; tolerance: number }; exportedAt: string }
  | { status: 'failed'; reason: string; exportedAt: string };

export const onnxKey = (name: string, version: number) => `${versionPrefix(name, version)}${ONNX_FILE}`;
export const onnxRecordKey = (name: string, version: number) => `${versionPrefix(name, version)}${ONNX_RECORD_FILE}`;

export async function readOnnxRecord(store: Pick<ObjectStore, 'getJsonIfExists'>, name: string, version: number): Promise<OnnxRecord | null> {
  return (await store.getJsonIfExists<OnnxRecord>(onnxRecordKey(name, version)))?.value ?? null;
}

/**
 * Exports version `version` of `name` to ONNX unless that was done before (either outcome is kept).
 * Never throws for an export or parity failure: it records it and the version serves with tfjs.
 */
export async function ensureOnnxExport(
  store: ObjectStore,
  name: string,
  version: number,
  ctx: RunContext,
  opts: { parityInputs?: number; force?: boolean; now?: () => Date } = {},
): Promise<OnnxRecord> {
  if (!opts.force) {
    const existing = await readOnnxRecord(store, name, version);
    if (existing) return existing;
  }
  const exportedAt = (opts.now?.() ?? new Date()).toISOString();
  let record: OnnxRecord;
  try {
    record = await exportChecked(store, name, version, opts.parityInputs ?? 4, exportedAt, ctx);
    ctx.log('ONNX export written', { name, version, bytes: record.bytes, maxAbsDiff: record.parity.maxAbsDiff });
  } catch (err) {
    if (err instanceof SiamfaceError && !err.permanent) throw err; // storage blip: retry the export later
    record = { status: 'failed', reason: (err as Error).message, exportedAt };
    ctx.log('ONNX export failed; this version serves with tfjs', { name, version, reason: record.reason });
  }
  await store.putJson(onnxRecordKey(name, version), record);
  return record;
}

async function exportChecked(store: ObjectStore, name: string, version: number, parityInputs: number, exportedAt: string, ctx: RunContext): Promise<Extract<OnnxRecord, { status: 'ready' }>> {
  // A heartbeat before each long step: the conversion itself is synchronous and cannot report.
  const step = (what: string) => ctx.report({ stage: 'promote', step: what, name, version });
  step('onnx: loading the model');
  await ensureBackend();
  const model = await loadModelFromStore(store, versionPrefix(name, version));
  try {
    step('onnx: converting');
    const bytes = exportToOnnx(model, { metadata: { siamfaceModel: name, siamfaceVersion: String(version) } });
    step('onnx: parity check');
    const maxAbsDiff = await parityDiff(model, bytes, parityInputs);
    if (!(maxAbsDiff < ONNX_PARITY_TOLERANCE)) {
      throw new Error(`ONNX parity check failed: max |onnx - tfjs| = ${maxAbsDiff} over ${parityInputs} inputs (tolerance ${ONNX_PARITY_TOLERANCE})`);
    }
    step('onnx: uploading');
    await store.putObject(onnxKey(name, version), Buffer.from(bytes), { contentType: 'application/octet-stream' });
    return {
      status: 'ready',
      path: ONNX_FILE,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      parity: { inputs: parityInputs, maxAbsDiff, tolerance: ONNX_PARITY_TOLERANCE },
      exportedAt,
    };
  } finally {
    model.dispose();
  }
}

/** Largest absolute difference between tfjs and onnxruntime embeddings of random preprocessed-range inputs. */
export async function parityDiff(model: tf.LayersModel, onnx: Uint8Array, n: number): Promise<number> {
  const reference = new TfjsEngine(model);
  const onnxEngine = await OnnxEngine.create(onnx, { log: () => undefined });
  try {
    const size = reference.inputSize;
    // Deterministic inputs in the range preprocessed images span (about -2.1..2.6).
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4.6 - 2.1;
    const batch = Float32Array.from({ length: n * size * size * 3 }, rand);
    const [want, got] = [await reference.embed(batch, n), await onnxEngine.embed(batch, n)];
    let max = 0;
    want.forEach((w, i) => w.forEach((v, j) => (max = Math.max(max, Math.abs(v - got[i][j])))));
    return max;
  } finally {
    await onnxEngine.dispose();
  }
}
