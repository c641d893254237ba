/**
 * The `siamface` command: local stack, workers, pipeline, verification, model registry.
 * Errors print one line (what and where) and exit non-zero; `SIAMFACE_DEBUG=1` prints stacks.
 */
import { Command } from 'commander';
import { registerStackCommands } from './commands/stack';
import { registerWorkerCommands } from './commands/workers';
import { registerDoctorCommand } from './commands/doctor';
import { registerPipelineCommands } from './commands/pipeline';
import { registerModelCommands } from './commands/models';
import { registerVerifyCommands } from './commands/verify';
import { registerEvaluateCommand } from './commands/evaluate';

export function buildProgram(): Command {
  const program = new Command('siamface').description('Siamese face verification on Temporal + S3').showHelpAfterError();
  registerStackCommands(program);
  registerWorkerCommands(program);
  registerDoctorCommand(program);
  registerPipelineCommands(program);
  registerModelCommands(program);
  registerVerifyCommands(program);
  registerEvaluateCommand(program);
  return program;
}

export function main(argv: string[] = process.argv): void {
  buildProgram()
    .parseAsync(argv)
    .then(() => process.exit(process.exitCode ?? 0))
    .catch((err: Error) => {
      console.error(`siamface: ${process.env.SIAMFACE_DEBUG ? err.stack : err.message}`);
      process.exit(2);
    });
}

if (require.main === module) main();
