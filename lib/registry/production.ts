/**
 * The production alias `models/<name>/production.json`: which version serves, since when, why, and the
 * versions that served before (for rollback). It changes only through a conditional write (If-Match on
 * the ETag read, If-None-Match '*' when there is none yet), so of two concurrent changes one fails
 * with 'precondition_failed' instead of silently overwriting the other.
 */
import type { ObjectStore } from '../storage/object-store';
import { SiamfaceError, badInput } from '../errors';
import { checkVersion, productionKey } from './keys';

export interface ProductionEntry {
  version: number;
  since: string;
  action: 'promote' | 'rollback';
  reason: string;
}

export interface ProductionAlias extends ProductionEntry {
  schemaVersion: 1;
  name: string;
  /** Versions that were in production before this one, oldest first (rollback pops the last). */
  history: ProductionEntry[];
}

export interface ProductionState {
  alias: ProductionAlias;
  etag: string;
}

export async function readProduction(store: Pick<ObjectStore, 'getJsonIfExists'>, name: string): Promise<ProductionState | null> {
  const got = await store.getJsonIfExists<ProductionAlias>(productionKey(name));
  return got ? { alias: got.value, etag: got.etag } : null;
}

/** The alias after `entry` takes over from `current` (pure). */
export function nextAlias(name: string, current: ProductionAlias | null, entry: ProductionEntry): ProductionAlias {
  const history = current ? [...current.history, entryOf(current)] : [];
  return { schemaVersion: 1, name, ...entry, history };
}

/** The alias after rolling back to the most recent earlier version, or to `toVersion` from the history (pure). */
export function rolledBackAlias(current: ProductionAlias, opts: { toVersion?: number; reason: string; at: string }): ProductionAlias {
  if (current.history.length === 0) {
    throw badInput(`model ${current.name}: version ${current.version} is the first production version; there is nothing to roll back to`);
  }
  let index = current.history.length - 1;
  if (opts.toVersion !== undefined) {
    index = current.history.map((h) => h.version).lastIndexOf(checkVersion(opts.toVersion));
    if (index < 0) {
      const earlier = current.history.map((h) => h.version).join(', ');
      throw badInput(`model ${current.name}: version ${opts.toVersion} was never in production before ${current.version} (earlier: ${earlier})`);
    }
  }
  const target = current.history[index];
  return {
    schemaVersion: 1,
    name: current.name,
    version: target.version,
    since: opts.at,
    action: 'rollback',
    reason: opts.reason,
    history: current.history.slice(0, index),
  };
}

function entryOf(a: ProductionAlias): ProductionEntry {
  return { version: a.version, since: a.since, action: a.action, reason: a.reason };
}

/**
 * Writes the alias on condition that production is still what the caller read (`expected` null: that
 * there is none). Throws SiamfaceError 'precondition_failed' (retryable) when someone changed it meanwhile.
 */
export async function writeProduction(
  store: Pick<ObjectStore, 'putJson'>,
  alias: ProductionAlias,
  expected: ProductionState | null,
): Promise<ProductionState> {
  try {
    const { etag } = await store.putJson(productionKey(alias.name), alias, expected ? { ifMatch: expected.etag } : { ifNoneMatch: '*' });
    return { alias, etag };
  } catch (err) {
    if (err instanceof SiamfaceError && err.code === 'precondition_failed') {
      const was = expected ? `version ${expected.alias.version}` : 'no production model';
      throw new SiamfaceError(
        'precondition_failed',
        `production alias of model ${alias.name} changed while setting version ${alias.version} (expected ${was}); read it again and decide again`,
        { cause: err, permanent: false },
      );
    }
    throw err;
  }
}
