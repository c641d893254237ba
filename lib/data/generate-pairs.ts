/**
 * Stage 3: balanced same/different pairs per split from the shard indexes (so every pair refers to a sharded
 * image), written as `datasets/<id>/pairs/<pairs hash>/<split>.csv` (`a,b,label`, image ids, 1 = same) and
 * `summary.json` beside them. The hash covers the shard set, the seed and the counts, so another pairs config (or
 * another shard set) gets its own files and never rewrites pairs a running training reads. The identity split is
 * the one recorded in the shard set's manifest.
 */
import { createHash } from 'node:crypto';
import { SiamfaceError, badInput } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import { SPLITS, type Split } from './celeba-partition';
import { csvField } from './csv';
import type { DatasetManifest } from './dataset-manifest';
import { makePairs, type PairCounts } from './pairs';
import { readShardIndex } from './shard-format';
import { datasetManifestKey, pairSetPrefix, shardSetsPrefix, stableJson } from './sources';

export interface PairsInput {
  datasetId: string;
  /** The shard set's manifest, as shardDataset returned it (`datasets/<id>/shards/<hash>/manifest.json`). */
  manifestKey: string;
  /** Default 1. */
  seed?: number | string;
  /** Pairs per split (half same, half different); a number applies to every split. Default train 20000, val 2000, test 2000. */
  pairsPerSplit?: number | Partial<Record<Split, number>>;
}

export interface PairsResult {
  datasetId: string;
  pairsKeys: Record<Split, string>;
  summaryKey: string;
  counts: Record<Split, PairCounts>;
  /** False when the pairs were already there and nothing was written. */
  written: boolean;
}

export interface PairsSummary {
  version: 1;
  datasetId: string;
  inputHash: string;
  manifestConfigHash: string;
  seed: number | string;
  requested: Record<Split, number>;
  counts: Record<Split, PairCounts & { total: number }>;
  identities: Record<Split, number>;
  /** Identities with at least two images (those that can give same-person pairs). */
  identitiesWithSamePairs: Record<Split, number>;
  /** Identities found in more than one split: must be 0. */
  identityOverlap: number;
  files: Record<Split, { key: string; sha256: string; rows: number }>;
  createdAt: string;
}

export const DEFAULT_PAIRS_PER_SPLIT: Record<Split, number> = { train: 20000, val: 2000, test: 2000 };
export const pairsKey = (datasetId: string, pairsHash: string, split: Split) => `${pairSetPrefix(datasetId, pairsHash)}${split}.csv`;
export const pairsSummaryKey = (datasetId: string, pairsHash: string) => `${pairSetPrefix(datasetId, pairsHash)}summary.json`;

export async function generatePairs(store: ObjectStore, input: PairsInput, ctx: RunContext): Promise<PairsResult> {
  const { datasetId } = input;
  const seed = input.seed ?? 1;
  const requested = requestedCounts(input.pairsPerSplit);
  const manifestKey = input.manifestKey;
  if (typeof manifestKey !== 'string' || !isShardManifestKey(datasetId, manifestKey)) {
    throw badInput(`generatePairs: manifestKey ${JSON.stringify(manifestKey)} is not a shard set manifest of dataset ${datasetId} (${shardSetsPrefix(datasetId)}<hash>/manifest.json)`);
  }
  const manifest = await store.getJsonIfExists<DatasetManifest>(manifestKey);
  if (!manifest) throw new SiamfaceError('not_found', `${store.uri(manifestKey)} does not exist: run shardDataset for dataset ${datasetId} first`);
  const m = manifest.value;
  const inputHash = createHash('sha256').update(stableJson({ seed, requested, manifest: m.configHash })).digest('hex').slice(0, 16);
  const pairsKeys = Object.fromEntries(SPLITS.map((s) => [s, pairsKey(datasetId, inputHash, s)])) as Record<Split, string>;
  const summaryKey = pairsSummaryKey(datasetId, inputHash);

  const previous = await store.getJsonIfExists<PairsSummary>(summaryKey);
  if (previous?.value.inputHash === inputHash && (await filesIntact(store, previous.value))) {
    ctx.log('pairs already complete', { datasetId });
    return { datasetId, pairsKeys, summaryKey, counts: stripTotals(previous.value.counts), written: false };
  }

  // Image ids per identity per split, read from the shards themselves.
  const bySplit = Object.fromEntries(SPLITS.map((s) => [s, new Map<string, string[]>()])) as Record<Split, Map<string, string[]>>;
  const splitsOfIdentity = new Map<string, Set<Split>>();
  for (const [i, shard] of m.shards.entries()) {
    throwIfAborted(ctx.signal);
    const index = await readShardIndex(store, shard.index);
    for (const e of index.entries) {
      const map = bySplit[shard.split];
      let list = map.get(e.identity);
      if (!list) map.set(e.identity, (list = []));
      list.push(e.imageId);
      let s = splitsOfIdentity.get(e.identity);
      if (!s) splitsOfIdentity.set(e.identity, (s = new Set()));
      s.add(shard.split);
    }
    ctx.report({ stage: 'pairs', phase: 'read-index', shards: i + 1, of: m.shards.length });
  }
  const identityOverlap = [...splitsOfIdentity.values()].filter((s) => s.size > 1).length;
  if (identityOverlap !== 0) {
    throw new SiamfaceError('bad_input', `dataset ${datasetId}: ${identityOverlap} identities appear in more than one split; the shards are inconsistent, rerun shardDataset`);
  }

  const counts = {} as PairsSummary['counts'];
  const files = {} as PairsSummary['files'];
  for (const split of SPLITS) {
    throwIfAborted(ctx.signal);
    const { pairs, counts: c } = makePairs(bySplit[split], requested[split], `${seed}\u0000${split}`);
    const body = ['a,b,label', ...pairs.map((p) => `${csvField(p.a)},${csvField(p.b)},${p.label}`)].join('\n') + '\n';
    await store.putObject(pairsKeys[split], body, { contentType: 'text/csv' });
    counts[split] = { ...c, total: pairs.length };
    files[split] = { key: pairsKeys[split], sha256: createHash('sha256').update(body).digest('hex'), rows: pairs.length };
    ctx.report({ stage: 'pairs', phase: 'write', split, pairs: pairs.length });
    if (requested[split] > 0 && pairs.length === 0) ctx.log('no pairs possible for split', { split });
  }
  const summary: PairsSummary = {
    version: 1,
    datasetId,
    inputHash,
    manifestConfigHash: m.configHash,
    seed,
    requested,
    counts,
    identities: mapSplits((s) => bySplit[s].size),
    identitiesWithSamePairs: mapSplits((s) => [...bySplit[s].values()].filter((l) => l.length >= 2).length),
    identityOverlap,
    files,
    createdAt: new Date().toISOString(),
  };
  await store.putJson(summaryKey, summary);
  return { datasetId, pairsKeys, summaryKey, counts: stripTotals(counts), written: true };
}

function requestedCounts(p: PairsInput['pairsPerSplit']): Record<Split, number> {
  const out = typeof p === 'number' ? { train: p, val: p, test: p } : { ...DEFAULT_PAIRS_PER_SPLIT, ...(p ?? {}) };
  for (const s of SPLITS) {
    if (!Number.isInteger(out[s]) || out[s] < 0) throw badInput(`pairsPerSplit.${s} must be a non-negative integer, got ${out[s]}`);
  }
  return out;
}

async function filesIntact(store: ObjectStore, summary: PairsSummary): Promise<boolean> {
  for (const s of SPLITS) {
    const f = summary.files[s];
    if (!f || !(await store.exists(f.key))) return false;
  }
  return true;
}

function mapSplits<T>(fn: (s: Split) => T): Record<Split, T> {
  return Object.fromEntries(SPLITS.map((s) => [s, fn(s)])) as Record<Split, T>;
}

function stripTotals(c: PairsSummary['counts']): Record<Split, PairCounts> {
  return mapSplits((s) => ({ same: c[s].same, different: c[s].different }));
}

/** The manifest of one of this dataset's shard sets (the only manifests pairs are made from). */
function isShardManifestKey(datasetId: string, key: string): boolean {
  const hash = key.slice(shardSetsPrefix(datasetId).length).split('/')[0];
  return /^[0-9a-f]{16}$/.test(hash) && key === datasetManifestKey(datasetId, hash);
}
