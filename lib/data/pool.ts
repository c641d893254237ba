/** Bounded concurrency for I/O- and libvips-bound work (uploads, decodes). */
export function limiter(concurrency: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let firstError: unknown;

  async function acquire(): Promise<void> {
    if (active < concurrency) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  function release() {
    const next = waiting.shift();
    if (next) next();
    else active--;
  }
  return {
    /** Waits for a free slot, then starts `task` without waiting for it; its error surfaces in `drain`. */
    async start(task: () => Promise<unknown>): Promise<void> {
      if (firstError) throw firstError;
      await acquire();
      const p = task()
        .catch((err) => {
          firstError ??= err;
        })
        .finally(() => {
          inFlight.delete(p);
          release();
        });
      inFlight.add(p);
    },
    /** Waits for all started tasks and rethrows the first failure. */
    async drain(): Promise<void> {
      while (inFlight.size) await Promise.all([...inFlight]);
      if (firstError) throw firstError;
    },
  };
}

/** Maps items with at most `concurrency` in flight, preserving order. */
export async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    // After the first failure no new item starts: the caller is already failing.
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  await Promise.all(workers);
  return out;
}
