/**
 * How long-running domain code reports progress and learns it should stop, without knowing
 * about Temporal. Activities pass a reporter that heartbeats and the activity's AbortSignal.
 */
export type Progress = Record<string, unknown>;

export interface RunContext {
  /** Called often; implementations throttle (Temporal heartbeats are throttled by the SDK). */
  report(progress: Progress): void;
  /** Aborted when the activity is cancelled or the worker shuts down. */
  signal: AbortSignal;
  /** Progress details saved by a previous attempt (Temporal heartbeat details), if any. */
  resumeFrom?: Progress;
  log(message: string, fields?: Record<string, unknown>): void;
}

/** A context for scripts, tests and the CLI: logs nothing unless asked, never aborted. */
export function localRunContext(opts: { signal?: AbortSignal; verbose?: boolean; onReport?: (p: Progress) => void } = {}): RunContext {
  return {
    report: (p) => opts.onReport?.(p),
    signal: opts.signal ?? new AbortController().signal,
    log: (message, fields) => {
      if (opts.verbose) console.log(JSON.stringify({ msg: message, ...fields }));
    },
  };
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('cancelled');
}
