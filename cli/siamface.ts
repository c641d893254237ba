/**
 * The `siamface` command: local stack, workers, pipeline, verification, model registry.
 *
 * Conventions scripts can rely on (README "The CLI"):
 * - exit 0: done (for `verify`: the same person); 1: a negative answer (`verify`: different people, `models promote`:
 *   refused); 2: an error of any kind, usage errors included (unknown flag, missing argument, bad number), as grep
 *   and cmp do, so an error is never read as "different people".
 * - data on stdout (the result, or its JSON with --json); logs, progress and errors on stderr.
 * `SIAMFACE_DEBUG=1` prints stacks.
 */
import { Command, CommanderError } from 'commander';
import { registerStackCommands } from './commands/stack';
import { registerWorkerCommands } from './commands/workers';
import { registerDoctorCommand } from './commands/doctor';
import { registerPipelineCommands } from './commands/pipeline';
import { registerModelCommands } from './commands/models';
import { registerVerifyCommands } from './commands/verify';
import { registerEvaluateCommand } from './commands/evaluate';
import { CLI_EXIT } from './exit-codes';
import { packageInfo } from '../lib/registry/code-version';


export function buildProgram(): Command {
  const program = new Command('siamface').description('Siamese face verification on Temporal + S3').version(packageInfo()?.version ?? 'unknown', '-V, --version').showHelpAfterError();
  registerStackCommands(program);
  registerWorkerCommands(program);
  registerDoctorCommand(program);
  registerPipelineCommands(program);
  registerModelCommands(program);
  registerVerifyCommands(program);
  registerEvaluateCommand(program);
  // Commander exits 1 on usage errors; ours exit 2 (1 means "different people" for verify).
  const exitOverride = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(exitOverride);
  };
  exitOverride(program);
  return program;
}

export function main(argv: string[] = process.argv): void {
  buildProgram()
    .parseAsync(argv)
    .then(() => process.exit(process.exitCode ?? CLI_EXIT.ok))
    .catch((err: Error) => {
      if (err instanceof CommanderError) {
        // Commander has printed the message; asked-for help and --version exit 0, everything else is a usage error.
        process.exit(err.exitCode === 0 ? CLI_EXIT.ok : CLI_EXIT.error);
      }
      console.error(`siamface: ${process.env.SIAMFACE_DEBUG ? err.stack : err.message}`);
      process.exit(CLI_EXIT.error);
    });
}

if (require.main === module) main();
