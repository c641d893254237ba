/**
 * Training checkpoints in S3:
 *
 *   runs/<run>/checkpoints/ckpt-<step, 8 digits>-g<writer, 6 digits>/
 *     weights.bin     every model weight (trainable and BN statistics), lib/model serializeTensors layout
 *     optimizer.bin   Adam state: iteration count, first and second moments, and the running beta powers
 *     meta.json       written LAST: step, epoch, phase, data cursor, seed, metrics, config hash, and for
 *                     each .bin its manifest (specs), size and sha256
 *
 * A checkpoint without meta.json, or whose files do not match the sizes and hashes in it, was cut
 * short (or torn) and is never used: a resume takes the next-older complete one.
 *
 * Each trainer writes under its own names (writer = its lease generation, lib/train/lease), so two
 * attempts never mix files in one checkpoint. After meta.json it moves `checkpoints/latest.json`
 * to the new checkpoint by a conditional write on the ETag it last wrote: a writer whose pointer
 * was moved by another stops (lease_lost), and a resume trusts the pointer first, the listing after. After a new checkpoint is complete, all but the newest `keep` are deleted.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { SiamfaceError } from '../errors';
import type { ObjectStore } from '../storage/object-store';
import { deserializeTensors, restoreWeights, serializeTensors, serializeWeights, type NamedTensor } from '../model/io';
import type { DataCursor } from './data-loader';
import { checkpointPointerKey, checkpointPrefix, checkpointsPrefix } from './run-layout';

export const CHECKPOINT_META = 'meta.json';
export const CHECKPOINT_WEIGHTS = 'weights.bin';
export const CHECKPOINT_OPTIMIZER = 'optimizer.bin';

export interface BlobRef {
  key: string;
  bytes: number;
  sha256: string;
  specs: tf.io.WeightsManifestEntry[];
}

export interface BestSoFar {
  valAuc: number;
  step: number;
}

export interface CheckpointMeta {
  version: 1;
  runId: string;
  /** Steps completed. */
  step: number;
  /** Epoch and phase of the next step. */
  epoch: number;
  phase: 1 | 2;
  /** The next batch. */
  cursor: DataCursor;
  seed: number;
  /**
   * The loader's randomness is derived from (seed, epoch, index), not from a running generator,
   * so the cursor and seed are the whole RNG state.
   */
  rngState: { kind: 'derived-from-seed-and-cursor'; seed: number; cursor: DataCursor };
  configHash: string;
  metrics: Record<string, number | null>;
  best: BestSoFar | null;
  /** The epoch ending at this step was not validated (cancelled during validation): a resume validates first. */
  validationPending?: boolean;
  backend: string;
  /** Where the run's weights started from (kept so a resumed run's model card still says). */
  initialWeights?: { kind: string; source: string | null };
  weights: BlobRef;
  /** Absent before the first optimizer step of a phase. */
  optimizer: (BlobRef & { phase: 1 | 2; iterations: number; variables: string[] }) | null;
  createdAt: string;
}

export interface CheckpointRef {
  prefix: string;
  meta: CheckpointMeta;
}

// --- Adam state -----------------------------------------------------------------------------

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  iterations: number;
}

const ACC_BETA1 = 'adam/accBeta1';
const ACC_BETA2 = 'adam/accBeta2';

/**
 * tf.train.adam's getWeights() (iterations, then first moments, then second moments) plus its
 * running beta powers: setWeights() recomputes those as beta^(t+1), which differs in the last
 * bits from the running product, and we want a resumed run to be bit-identical.
 */
export async function adamState(optimizer: tf.AdamOptimizer): Promise<NamedTensor[]> {
  const internals = optimizer as unknown as AdamInternals;
  const weights = await optimizer.getWeights();
  return [...weights, { name: ACC_BETA1, tensor: internals.accBeta1 }, { name: ACC_BETA2, tensor: internals.accBeta2 }];
}

/** Inverse of adamState; `optimizer` must be fresh (same learning-rate settings, no steps taken). */
export async function restoreAdamState(optimizer: tf.AdamOptimizer, state: NamedTensor[]): Promise<void> {
  const internals = optimizer as unknown as AdamInternals;
  const beta1 = state.find((s) => s.name === ACC_BETA1);
  const beta2 = state.find((s) => s.name === ACC_BETA2);
  const rest = state.filter((s) => s !== beta1 && s !== beta2);
  await optimizer.setWeights(rest);
  if (beta1 && beta2) {
    internals.accBeta1.assign(beta1.tensor as tf.Scalar);
    internals.accBeta2.assign(beta2.tensor as tf.Scalar);
  }
}

// --- save / find / load ---------------------------------------------------------------------

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function putBlob(store: ObjectStore, key: string, named: NamedTensor[], fence: () => Promise<void>): Promise<BlobRef> {
  const { specs, data } = await serializeTensors(named);
  await fence();
  await store.upload(key, data, { contentType: 'application/octet-stream' });
  return { key, bytes: data.length, sha256: sha256(data), specs };
}

/** What a checkpoint records of the run, as in its meta, plus what it is saved from. */
export interface SaveCheckpointInput
  extends Pick<CheckpointMeta, 'runId' | 'step' | 'epoch' | 'phase' | 'cursor' | 'seed' | 'configHash' | 'metrics' | 'best' | 'validationPending' | 'backend' | 'initialWeights'> {
  model: tf.LayersModel;
  /** The current phase's optimizer and phase, or null before its first step. */
  optimizer: { optimizer: tf.AdamOptimizer; phase: 1 | 2; variables: string[] } | null;
  keep: number;
  /** Called before each write and delete (the run's lease check): throws to stop a superseded writer. */
  fence?: () => Promise<void>;
  /** This trainer's lease generation: makes the checkpoint's name attempt-unique. */
  writer?: number;
  /**
   * The pointer's ETag as this trainer last saw or wrote it (null: absent), updated by each save;
   * without it the pointer is read just before its conditional write.
   */
  pointer?: PointerState;
}

export interface CheckpointPointer {
  version: 1;
  prefix: string;
  step: number;
  updatedAt: string;
}

export interface PointerState {
  etag: string | null;
}

/** The pointer to the newest complete checkpoint, with its ETag; null when there is none yet. */
export async function readCheckpointPointer(store: ObjectStore, runId: string): Promise<{ value: CheckpointPointer; etag: string } | null> {
  return store.getJsonIfExists<CheckpointPointer>(checkpointPointerKey(runId));
}

async function movePointer(store: ObjectStore, runId: string, ref: CheckpointRef, state: PointerState | undefined): Promise<void> {
  const key = checkpointPointerKey(runId);
  const expected = state ? state.etag : ((await readCheckpointPointer(store, runId))?.etag ?? null);
  const pointer: CheckpointPointer = { version: 1, prefix: ref.prefix, step: ref.meta.step, updatedAt: new Date().toISOString() };
  try {
    const { etag } = await store.putJson(key, pointer, expected ? { ifMatch: expected } : { ifNoneMatch: '*' });
    if (state) state.etag = etag;
  } catch (err) {
    if (!(err instanceof SiamfaceError && err.code === 'precondition_failed')) throw err;
    throw new SiamfaceError('lease_lost', `${store.uri(key)} was moved by another trainer since this one last wrote it: this attempt was superseded and stops (its checkpoint ${store.uri(ref.prefix)} is left unreferenced)`, {
      cause: err,
    });
  }
}

/**
 * Writes a checkpoint (data first, meta.json last), then prunes older ones. A complete checkpoint
 * of the same step is left as it is (same step, same state: rewriting would only open a window
 * in which its files and meta disagree).
 */
export async function saveCheckpoint(store: ObjectStore, input: SaveCheckpointInput): Promise<CheckpointRef> {
  const prefix = checkpointPrefix(input.runId, input.step, input.writer);
  const existing = await store.getJsonIfExists<CheckpointMeta>(prefix + CHECKPOINT_META);
  if (existing && existing.value.configHash === input.configHash) return { prefix, meta: existing.value };

  const fence = input.fence ?? (async () => undefined);
  const w = await serializeWeights(input.model);
  await fence();
  await store.upload(prefix + CHECKPOINT_WEIGHTS, w.data, { contentType: 'application/octet-stream' });
  const weights: BlobRef = { key: prefix + CHECKPOINT_WEIGHTS, bytes: w.data.length, sha256: sha256(w.data), specs: w.specs };
  let optimizer: CheckpointMeta['optimizer'] = null;
  if (input.optimizer) {
    const state = await adamState(input.optimizer.optimizer);
    try {
      // Before its first step an Adam optimizer holds only its iteration count: nothing worth keeping.
      if (state.length > 3) {
        const iterations = (input.optimizer.optimizer as unknown as AdamInternals).iterations;
        optimizer = { ...(await putBlob(store, prefix + CHECKPOINT_OPTIMIZER, state, fence)), phase: input.optimizer.phase, iterations, variables: input.optimizer.variables };
      }
    } finally {
      // The optimizer's own variables stay; the copies made for saving (its iteration count, FlatAdam's moments) go.
      tf.dispose(state.map((s) => s.tensor).filter((t) => !(t instanceof tf.Variable)));
    }
  }
  const meta: CheckpointMeta = {
    version: 1,
    runId: input.runId,
    step: input.step,
    epoch: input.epoch,
    phase: input.phase,
    cursor: input.cursor,
    seed: input.seed,
    rngState: { kind: 'derived-from-seed-and-cursor', seed: input.seed, cursor: input.cursor },
    configHash: input.configHash,
    metrics: input.metrics,
    best: input.best,
    ...(input.validationPending ? { validationPending: true } : {}),
    backend: input.backend,
    ...(input.initialWeights ? { initialWeights: input.initialWeights } : {}),
    weights,
    optimizer,
    createdAt: new Date().toISOString(),
  };
  await fence();
  await store.putJson(prefix + CHECKPOINT_META, meta);
  await movePointer(store, input.runId, { prefix, meta }, input.pointer);
  await pruneCheckpoints(store, input.runId, input.keep, fence);
  return { prefix, meta };
}

interface Listed {
  prefix: string;
  step: number;
  files: Map<string, number>;
}

async function listCheckpoints(store: ObjectStore, runId: string): Promise<Listed[]> {
  const base = checkpointsPrefix(runId);
  const byPrefix = new Map<string, Listed>();
  for await (const o of store.list(base)) {
    const m = /^(ckpt-(\d+)(?:-g\d+)?)\/(.+)$/.exec(o.key.slice(base.length));
    if (!m) continue;
    const prefix = `${base}${m[1]}/`;
    let c = byPrefix.get(prefix);
    if (!c) byPrefix.set(prefix, (c = { prefix, step: Number(m[2]), files: new Map() }));
    c.files.set(m[3], o.size);
  }
  // Newest step first; within a step, the newest writer first.
  return [...byPrefix.values()].sort((a, b) => b.step - a.step || (a.prefix < b.prefix ? 1 : a.prefix > b.prefix ? -1 : 0));
}

/** The listing matches what meta.json promises (sizes only: hashes are checked on load). */
function filesMatch(c: Listed, meta: CheckpointMeta): boolean {
  if (c.files.get(CHECKPOINT_WEIGHTS) !== meta.weights.bytes) return false;
  if (meta.optimizer && c.files.get(CHECKPOINT_OPTIMIZER) !== meta.optimizer.bytes) return false;
  return meta.step === c.step;
}

/**
 * A checkpoint's meta.json; null only when it is really gone (pruned since the listing) or is not
 * JSON. Any other failure (a transient S3 error) propagates: "could not read" is not "none", and
 * taking it for none would resume from an older checkpoint or from scratch.
 */
async function readCheckpointMeta(store: ObjectStore, prefix: string): Promise<{ value: CheckpointMeta } | null> {
  try {
    return await store.getJsonIfExists<CheckpointMeta>(prefix + CHECKPOINT_META);
  } catch (err) {
    if (err instanceof SiamfaceError && err.code === 'bad_input') return null;
    throw err;
  }
}

/**
 * The run's checkpoints whose meta.json exists and whose files match it: the pointer's first, then
 * the rest newest first. A complete checkpoint of another config hash is an error: the run id is
 * being reused for something else.
 */
export async function* completeCheckpoints(store: ObjectStore, runId: string, opts: { configHash?: string } = {}): AsyncGenerator<CheckpointRef> {
  const pointed = (await readCheckpointPointer(store, runId))?.value.prefix;
  const listed = await listCheckpoints(store, runId);
  const order = [...listed.filter((c) => c.prefix === pointed), ...listed.filter((c) => c.prefix !== pointed)];
  for (const c of order) {
    if (!c.files.has(CHECKPOINT_META)) continue;
    const meta = await readCheckpointMeta(store, c.prefix);
    if (!meta || meta.value.version !== 1 || !filesMatch(c, meta.value)) continue;
    if (opts.configHash && meta.value.configHash !== opts.configHash) {
      throw new SiamfaceError(
        'bad_input',
        `run ${runId} already has checkpoints from another config or dataset (config hash ${meta.value.configHash}, this run ${opts.configHash}): use a new run id`,
      );
    }
    yield { prefix: c.prefix, meta: meta.value };
  }
}

/** The newest checkpoint of the run whose meta.json exists and whose files match it; null when none. */
export async function latestCompleteCheckpoint(store: ObjectStore, runId: string, opts: { configHash?: string } = {}): Promise<CheckpointRef | null> {
  for await (const ref of completeCheckpoints(store, runId, opts)) return ref;
  return null;
}

/** A checkpoint whose blobs were downloaded and passed their sha256 check; restoring takes them from here. */
export interface VerifiedCheckpoint extends CheckpointRef {
  /** Verified blob bodies by key, each removed once restored (an optimizer state can be large). */
  blobs: Map<string, Buffer>;
}

/**
 * The newest checkpoint whose files pass their size and sha256 checks. A newer one that fails them
 * (torn: e.g. its files and meta.json come from two writers) is skipped and reported to `onSkip`,
 * so a resume falls back to the next-older complete one instead of failing on every attempt.
 */
export async function newestVerifiedCheckpoint(
  store: ObjectStore,
  runId: string,
  opts: { configHash?: string; onSkip?: (ref: CheckpointRef, reason: string) => void | Promise<void> } = {},
): Promise<VerifiedCheckpoint | null> {
  for await (const ref of completeCheckpoints(store, runId, opts)) {
    const blobs = new Map<string, Buffer>();
    try {
      for (const b of [ref.meta.weights, ...(ref.meta.optimizer ? [ref.meta.optimizer] : [])]) blobs.set(b.key, await getBlob(store, b));
    } catch (err) {
      // not_found: pruned since the listing. Anything else (transient) propagates.
      if (!(err instanceof SiamfaceError) || (err.code !== 'checksum_mismatch' && err.code !== 'not_found')) throw err;
      await opts.onSkip?.(ref, err.message);
      continue;
    }
    return { ...ref, blobs };
  }
  return null;
}

/** Removes a checkpoint, meta.json first: one whose deletion is cut short is then no longer "complete". */
export async function deleteCheckpoint(store: ObjectStore, prefix: string): Promise<void> {
  await store.delete(prefix + CHECKPOINT_META);
  await store.deletePrefix(prefix);
}

/**
 * Deletes all but the newest `keep` complete checkpoints, and unfinished ones older than the newest
 * complete one; never the one the pointer names. `fence` runs before each deletion.
 */
export async function pruneCheckpoints(store: ObjectStore, runId: string, keep: number, fence: () => Promise<void> = async () => undefined): Promise<string[]> {
  const pointed = (await readCheckpointPointer(store, runId))?.value.prefix;
  const all = await listCheckpoints(store, runId);
  const complete = all.filter((c) => c.files.has(CHECKPOINT_META));
  if (!complete.length) return [];
  const newest = complete[0].step;
  const doomed = [...complete.slice(keep), ...all.filter((c) => !c.files.has(CHECKPOINT_META) && c.step < newest)].filter((c) => c.prefix !== pointed);
  for (const c of doomed) {
    await fence();
    await deleteCheckpoint(store, c.prefix);
  }
  return doomed.map((c) => c.prefix);
}

/** A blob of `ref`: already verified when `ref` is a VerifiedCheckpoint, else downloaded and checked now. */
async function blobOf(store: ObjectStore, ref: CheckpointRef | VerifiedCheckpoint, blob: BlobRef): Promise<Buffer> {
  if ('blobs' in ref) {
    const verified = ref.blobs.get(blob.key);
    ref.blobs.delete(blob.key);
    if (verified) return verified;
  }
  return getBlob(store, blob);
}

async function getBlob(store: ObjectStore, ref: BlobRef): Promise<Buffer> {
  const data = await store.getBuffer(ref.key);
  if (data.length !== ref.bytes || sha256(data) !== ref.sha256) {
    throw new SiamfaceError('checksum_mismatch', `${store.uri(ref.key)} does not match its checkpoint meta.json (${data.length} bytes; expected ${ref.bytes}, sha256 ${ref.sha256})`);
  }
  return data;
}

/** Sets the model's weights from a checkpoint (sha256-checked). */
export async function restoreCheckpointWeights(store: ObjectStore, ref: CheckpointRef | VerifiedCheckpoint, model: tf.LayersModel): Promise<void> {
  restoreWeights(model, ref.meta.weights.specs, await blobOf(store, ref, ref.meta.weights));
}

/**
 * Restores the optimizer state of a checkpoint into a fresh Adam optimizer. `variables` are the
 * names (originalName) of the variables it will train, in order: Adam's state is positional.
 */
export async function restoreCheckpointOptimizer(store: ObjectStore, ref: CheckpointRef | VerifiedCheckpoint, optimizer: tf.AdamOptimizer, variables: string[]): Promise<boolean> {
  const o = ref.meta.optimizer;
  if (!o) return false;
  if (o.variables.length !== variables.length || o.variables.some((v, i) => v !== variables[i])) {
    throw new SiamfaceError('bad_input', `${ref.prefix}: optimizer state is for ${o.variables.length} variables that differ from the ${variables.length} being trained (architecture changed?)`);
  }
  const tensors = deserializeTensors(o.specs, await blobOf(store, ref, o));
  try {
    await restoreAdamState(optimizer, tensors);
  } finally {
    // setWeights copied them into new variables.
    tf.dispose(tensors.map((t) => t.tensor));
  }
  return true;
}
