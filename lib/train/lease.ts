/**
 * Fencing for a training run. `runs/<run>/lease.json` names the one trainer that may write the run;
 * a trainer takes it by conditional write (If-None-Match when absent, If-Match on the ETag it read
 * otherwise) and checks it is still its own before every write of the run (checkpoints, best/,
 * model/, run.json). A newer attempt takes the lease over, so an older one that was only stalled
 * (a long synchronous step, SIGSTOP) finds on its next write that it was superseded and stops.
 *
 * The check and the write that follows are two requests: a trainer stalled between them can still
 * land that one write. What the lease guarantees is that it notices at its next check.
 */
import { hostname } from 'node:os';
import { SiamfaceError, transient } from '../errors';
import type { ObjectStore } from '../storage/object-store';
import { leaseKey } from './run-layout';

export interface LeaseJson {
  version: 1;
  runId: string;
  /** The activity attempt that holds it (Temporal's Context.info.attempt; 1 outside Temporal). */
  attempt: number;
  /** Which activity the attempts belong to; attempt numbers compare only within one scope. */
  scope: string | null;
  /** Incremented by every take-over: tells two holders apart even with equal attempt numbers. */
  generation: number;
  /** host:pid, for people reading the lease. */
  holder: string;
  takenAt: string;
}

export interface LeaseClaim {
  attempt: number;
  /** e.g. workflow id, run id and activity id: a later workflow run starts its attempts at 1 again. */
  scope?: string;
}

const TAKE_TRIES = 5;

export class RunLease {
  private constructor(
    private readonly store: ObjectStore,
    readonly lease: LeaseJson,
    private readonly etag: string,
  ) {}

  /**
   * Takes the run's lease, over any holder except a newer attempt of the same scope (then this
   * attempt is the stale one and fails with lease_lost). Retries a lost conditional write.
   */
  static async take(store: ObjectStore, runId: string, claim: LeaseClaim): Promise<RunLease> {
    const key = leaseKey(runId);
    for (let i = 0; i < TAKE_TRIES; i++) {
      const current = await store.getJsonIfExists<LeaseJson>(key);
      const held = current?.value;
      if (held && claim.scope !== undefined && held.scope === claim.scope && held.attempt > claim.attempt) {
        throw leaseLost(store, runId, claim.attempt, held, 'a newer attempt already holds it');
      }
      const lease: LeaseJson = {
        version: 1,
        runId,
        attempt: claim.attempt,
        scope: claim.scope ?? null,
        generation: (held?.generation ?? 0) + 1,
        holder: `${hostname()}:${process.pid}`,
        takenAt: new Date().toISOString(),
      };
      try {
        const { etag } = await store.putJson(key, lease, current ? { ifMatch: current.etag } : { ifNoneMatch: '*' });
        return new RunLease(store, lease, etag);
      } catch (err) {
        // Another trainer wrote it between our read and write: read it again and decide again.
        if (!(err instanceof SiamfaceError && err.code === 'precondition_failed')) throw err;
      }
    }
    throw transient(`${store.uri(key)}: could not take the lease of run ${runId} in ${TAKE_TRIES} tries: other trainers keep writing it`);
  }

  /** Throws lease_lost when another trainer took the lease since this one did. Call before each write of the run. */
  async check(): Promise<void> {
    const key = leaseKey(this.lease.runId);
    const now = await this.store.head(key);
    if (now && now.etag === this.etag) return;
    const held = now ? (await this.store.getJsonIfExists<LeaseJson>(key))?.value : undefined;
    throw leaseLost(this.store, this.lease.runId, this.lease.attempt, held, held ? 'it was taken over' : 'it was deleted');
  }
}

function leaseLost(store: ObjectStore, runId: string, attempt: number, held: LeaseJson | undefined, why: string): SiamfaceError {
  const by = held ? ` (now attempt ${held.attempt}, generation ${held.generation}, ${held.holder}, since ${held.takenAt})` : '';
  return new SiamfaceError('lease_lost', `run ${runId}: attempt ${attempt} does not hold ${store.uri(leaseKey(runId))}: ${why}${by}; this attempt was superseded and stops without writing`, {
    details: { runId, attempt, holderAttempt: held?.attempt ?? null },
  });
}
