/** Runs a bench's entry point and exits: 0 when it finishes, 1 with `<label>: <message>` on stderr when it fails. */
export function runBench(label: string, entry: () => Promise<void>): void {
  entry().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(`${label}: ${err.message}`);
      process.exit(1);
    },
  );
}
