/** Exit codes of every `siamface` command (see cli/siamface.ts). */
export const CLI_EXIT = { ok: 0, negative: 1, error: 2 } as const;
