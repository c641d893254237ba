import type { Command } from 'commander';
import { TASK_QUEUES } from '../../lib/config';
import { withClient } from '../temporal-client';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('end-to-end check: a workflow on the CPU queue writes and reads an object in S3 (needs a running cpu worker)')
    .option('--timeout <seconds>', 'give up after this long', '60')
    .action(async (opts: { timeout: string }) => {
      await withClient(async (client) => {
        const handle = await client.workflow.start('pingWorkflow', {
          taskQueue: TASK_QUEUES.cpu,
          workflowId: `doctor-${Date.now()}`,
          args: [{ message: 'siamface doctor' }],
          workflowExecutionTimeout: `${Number(opts.timeout)}s`,
        });
        const res = (await handle.result()) as { echoed: string };
        console.log(`ok: workflow ${handle.workflowId} ran an activity that round-tripped '${res.echoed}' through S3`);
      });
    });
}
