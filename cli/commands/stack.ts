import type { Command } from 'commander';
import { stackDown, stackInfo, stackOptionsFromEnv, stackStatus, stackUp } from '../../infra/local-stack';
import { outputOf, type CliOutput } from '../options';

/** Every line here is the command's answer (where the services run, what stopped, their health): data, stdout. */
export function registerStackCommands(program: Command, deps: CliOutput = {}): void {
  const { print } = outputOf(deps);
  const stack = program.command('stack').description('the embedded local stack: Temporal dev server + MinIO on loopback');

  stack
    .command('up')
    .description('start Temporal (with Web UI) and MinIO, wait until healthy, create the bucket')
    .action(async () => {
      const o = stackOptionsFromEnv();
      const info = await stackUp(o);
      print(`Temporal   ${info.temporal.address}  namespace ${info.temporal.namespace}  (pid ${info.temporal.pid})`);
      print(`Temporal UI ${info.temporal.uiUrl}`);
      print(`MinIO      ${info.minio.endpoint}  bucket ${info.minio.bucket}  (pid ${info.minio.pid})`);
      print(`MinIO console ${info.minio.consoleUrl}`);
      print(`data       ${o.dataDir}`);
    });

  stack
    .command('down')
    .description('stop the services that `stack up` started (from this data dir)')
    .action(async () => {
      const stopped = await stackDown(stackOptionsFromEnv());
      print(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
    });

  stack
    .command('status')
    .description('what runs and where')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const o = stackOptionsFromEnv();
      const st = await stackStatus(o);
      const info = stackInfo(o);
      if (opts.json) {
        print(JSON.stringify({ ...info, health: st }, null, 2));
      } else {
        const line = (name: string, s: { pid?: number; healthy: boolean; problem?: string }, where: string) =>
          print(`${name.padEnd(9)} ${s.healthy ? 'healthy' : 'DOWN   '} ${where}${s.pid ? `  (pid ${s.pid})` : ''}${s.problem && !s.healthy ? `  - ${s.problem}` : ''}`);
        line('temporal', st.temporal, `${info.temporal.address}  UI ${info.temporal.uiUrl}`);
        line('minio', st.minio, `${info.minio.endpoint}  console ${info.minio.consoleUrl}`);
      }
      if (!st.temporal.healthy || !st.minio.healthy) process.exitCode = 1;
    });
}
