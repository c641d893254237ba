/**
 * CelebA's official evaluation partition (list_eval_partition.csv in the Kaggle archive:
 * `image_id,partition`, 0 = train, 1 = val, 2 = test), and how it maps onto identities.
 */
import { badInput } from '../errors';
import { parseCsv } from './csv';
import type { IdentityMap } from './identity-file';

export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];
const PARTITION_NAMES: Record<string, Split> = { '0': 'train', '1': 'val', '2': 'test' };

export function parseEvalPartition(text: string, fileName: string): Map<string, Split> {
  const table = parseCsv(text, fileName, { expectHeader: ['image_id', 'partition'] });
  const out = new Map<string, Split>();
  for (const { line, cells } of table.rows) {
    const [file, part] = cells;
    const split = PARTITION_NAMES[part];
    if (!split) throw badInput(`${fileName} line ${line}: partition '${part}' for ${file} must be 0, 1 or 2`);
    if (!file) throw badInput(`${fileName} line ${line}: empty image_id`);
    out.set(file, split);
  }
  return out;
}

export interface PartitionReport {
  /** Images and identities per official partition (among the labelled images present). */
  partitions: Record<Split, { images: number; identities: number }>;
  /** Identities whose images fall in more than one official partition. */
  identitiesInSeveralPartitions: number;
  /** Images present but missing from the partition file. */
  imagesWithoutPartition: number;
  identityDisjoint: boolean;
}

export function reportPartitionByIdentity(partition: Map<string, Split>, identities: IdentityMap, presentFiles: Iterable<string>): PartitionReport {
  const perSplit: Record<Split, { images: number; ids: Set<string> }> = {
    train: { images: 0, ids: new Set() },
    val: { images: 0, ids: new Set() },
    test: { images: 0, ids: new Set() },
  };
  const splitsOfIdentity = new Map<string, Set<Split>>();
  let missing = 0;
  for (const file of presentFiles) {
    const id = identities.get(file);
    if (id === undefined) continue;
    const split = partition.get(file);
    if (!split) {
      missing++;
      continue;
    }
    perSplit[split].images++;
    perSplit[split].ids.add(id);
    let s = splitsOfIdentity.get(id);
    if (!s) splitsOfIdentity.set(id, (s = new Set()));
    s.add(split);
  }
  const several = [...splitsOfIdentity.values()].filter((s) => s.size > 1).length;
  return {
    partitions: {
      train: { images: perSplit.train.images, identities: perSplit.train.ids.size },
      val: { images: perSplit.val.images, identities: perSplit.val.ids.size },
      test: { images: perSplit.test.images, identities: perSplit.test.ids.size },
    },
    identitiesInSeveralPartitions: several,
    imagesWithoutPartition: missing,
    identityDisjoint: several === 0,
  };
}
