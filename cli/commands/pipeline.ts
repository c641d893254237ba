import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { readStackInfo, taskQueueFromEnv } from '../../lib/config';
import { resolvePipelineConfig, type PipelineConfigInput } from '../../lib/pipeline/config';
import type { PipelineResult, PipelineStatus } from '../../lib/pipeline/status';
import { readKaggleCredentials } from '../../lib/data/kaggle';
import { isUri } from '../../lib/storage/uri';
import { outputOf, type CliOutput } from '../options';
import { withClient } from '../temporal-client';
import { livePipelineStatus } from '../pipeline-status';
import { trainingPipeline, stopTrainingSignal } from '../../workflows/training-pipeline';

interface StartOptions {
  config?: string;
  dataset?: string;
  identityFile?: string;
  id?: string;
  queue: string;
}

/** Builds the pipeline input from a JSON file and the shortcut flags; the default dataset is Kaggle CelebA. */
export function buildPipelineInput(opts: StartOptions, env: NodeJS.ProcessEnv = process.env): PipelineConfigInput {
  const fromFile = opts.config ? readConfigFile(opts.config) : undefined;
  const input: PipelineConfigInput = fromFile ?? ({} as PipelineConfigInput);
  if (opts.dataset) {
    input.dataset = { ...(input.dataset ?? {}), source: { kind: 'folder', location: opts.dataset, ...(opts.identityFile ? { identityFile: opts.identityFile } : {}) } };
  }
  if (!input.dataset) {
    const identityFile = opts.identityFile ?? env.SIAMFACE_CELEBA_IDENTITY_FILE;
    if (!hasKaggleCredentials(env)) {
      throw new Error(
        'the default dataset is Kaggle CelebA, and no Kaggle credentials were found: set KAGGLE_USERNAME and KAGGLE_KEY (or create ~/.kaggle/kaggle.json), ' +
          'or train on your own images with --dataset <folder | s3:// prefix | http(s):// archive>',
      );
    }
    if (!identityFile) {
      throw new Error('Kaggle CelebA has no identity labels: give identity_CelebA.txt with --identity-file <path|URL|s3://> or SIAMFACE_CELEBA_IDENTITY_FILE (see README, "Getting CelebA")');
    }
    input.dataset = { source: { kind: 'kaggle-celeba', identityFile } };
  }
  absolutizeLocalPaths(input);
  resolvePipelineConfig(input); // fail here, with the field named, rather than in the workflow
  return input;
}

function readConfigFile(file: string): PipelineConfigInput {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the pipeline config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as PipelineConfigInput;
  } catch (err) {
    throw new Error(`the pipeline config ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Workers resolve paths from their own working directory: send absolute ones (relative to where the CLI runs). */
function absolutizeLocalPaths(input: PipelineConfigInput): void {
  const src = input.dataset?.source as unknown as Record<string, unknown> | undefined;
  if (!src) return;
  for (const field of ['location', 'identityFile']) {
    const v = src[field];
    if (typeof v === 'string' && v && !isUri(v)) src[field] = path.resolve(v);
  }
}

function hasKaggleCredentials(env: NodeJS.ProcessEnv): boolean {
  try {
    readKaggleCredentials(env, env.HOME ?? os.homedir());
    return true;
  } catch {
    return false;
  }
}

export function uiWorkflowUrl(workflowId: string): string | undefined {
  const ui = readStackInfo()?.temporal.uiUrl;
  return ui ? `${ui}/namespaces/${readStackInfo()?.temporal.namespace ?? 'default'}/workflows/${encodeURIComponent(workflowId)}` : undefined;
}

async function startPipeline(client: Client, input: PipelineConfigInput, opts: StartOptions): Promise<WorkflowHandle> {
  const model = (input.promotion as { modelName?: string } | undefined)?.modelName ?? 'siamface';
  const workflowId = opts.id ?? `pipeline-${model}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  return client.workflow.start(trainingPipeline, { taskQueue: opts.queue, workflowId, args: [input] });
}

function progressLine(st: PipelineStatus): string {
  const cur = st.stage === 'done' ? undefined : st.stages[st.stage];
  const p = cur?.progress ?? {};
  const bits = Object.entries(p)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .slice(0, 8)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? Number((v as number).toPrecision(4)) : v}`);
  const retry = cur?.retry ? `  (${cur.retry})` : '';
  return `[${new Date().toISOString().slice(11, 19)}] stage ${st.stage}${bits.length ? `  ${bits.join(' ')}` : ''}${retry}`;
}

/** Polls the status (query + heartbeat progress) until the workflow closes; returns its result (throws its failure). Progress is not data: `log` (stderr). */
export async function followPipeline(handle: WorkflowHandle, everyMs = 5000, log = outputOf({}).log): Promise<PipelineResult> {
  const result = handle.result() as Promise<PipelineResult>;
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  let last = '';
  while (!done) {
    try {
      const line = progressLine(await livePipelineStatus(handle));
      if (line.slice(11) !== last) log(line);
      last = line.slice(11);
    } catch {
      /* the query can fail while no worker is polling; keep waiting */
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, everyMs))]);
  }
  return result;
}

/** The human form of `pipeline status`: one line per stage, then outputs and metrics. */
export function statusLines(st: PipelineStatus): string[] {
  const value = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const lines: string[] = [];
  for (const [name, s] of Object.entries(st.stages)) {
    const progress = s.state === 'running' && s.progress ? `  ${Object.entries(s.progress).slice(0, 8).map(([k, v]) => `${k}=${value(v)}`).join(' ')}` : '';
    lines.push(`  ${name.padEnd(9)} ${s.state}${progress}${s.error ? `  error: ${s.error}` : ''}`);
    // Its own line, so scripts and people find it: "stage train: attempt 1 lost its worker ...; retry pending".
    if (s.retry) lines.push(`stage ${name}: ${s.retry}`);
  }
  for (const [k, v] of Object.entries(st.outputs)) lines.push(`output ${k}: ${value(v)}`);
  for (const [k, v] of Object.entries(st.metrics)) lines.push(`metrics ${k}: ${value(v)}`);
  if (st.stopRequested) lines.push(`stop requested: ${st.stopReason ?? 'yes'}`);
  return lines;
}

/** The human form of a pipeline's result: what was trained, its test metrics, report and promotion. */
function resultLines(r: PipelineResult): string[] {
  const m = r.metrics as Record<string, number | undefined>;
  const fmt = (v: number | undefined) => (typeof v === 'number' ? v.toFixed(4) : 'n/a');
  return [
    `run ${r.runId} on dataset ${r.datasetId}: ${r.training.steps} training steps on ${r.training.backend}${r.training.resumedFromStep ? ` (resumed from step ${r.training.resumedFromStep})` : ''}${r.training.stoppedEarly ? ', stopped early' : ''}`,
    `test metrics: ${Object.entries(m).map(([k, v]) => `${k}=${fmt(v)}`).join('  ')}`,
    `evaluation report: ${r.evalReportKey}${r.evalHtmlKey ? `  (${r.evalHtmlKey})` : ''}`,
    `promotion: ${r.promotion.outcome}${r.promotion.version !== undefined ? ` version ${r.promotion.version}` : ''}${r.promotion.productionVersion != null ? `; production is version ${r.promotion.productionVersion}` : ''}${r.promotion.reason ? ` (${r.promotion.reason})` : ''}`,
  ];
}

export function registerPipelineCommands(program: Command, deps: CliOutput = {}): void {
  const { print, log } = outputOf(deps);
  const pipeline = program.command('pipeline').description('the training pipeline: fetch -> shard -> pairs -> train -> evaluate -> promote');
  const startOpts = (c: Command) =>
    c
      .option('--config <file>', 'pipeline config JSON (see README and configs/)')
      .option('--dataset <location>', 'train on an image folder, s3:// prefix or http(s):// archive laid out as <identity>/<image>')
      .option('--identity-file <location>', "CelebA-format identity file (Kaggle CelebA's identity_CelebA.txt)")
      .option('--id <workflowId>', 'workflow id (default: pipeline-<model>-<time>)')
      .option('--queue <taskQueue>', 'task queue of the CPU workers', taskQueueFromEnv('cpu'));

  startOpts(pipeline.command('start').description('start a pipeline and return its workflow id')).action(async (opts: StartOptions) => {
    const input = buildPipelineInput(opts);
    await withClient(async (client) => {
      const handle = await startPipeline(client, input, opts);
      log(`started ${handle.workflowId}`);
      const url = uiWorkflowUrl(handle.workflowId);
      if (url) log(`watch it: ${url}`);
      print(handle.workflowId); // the data: what scripts pass to status, resume, cancel
    });
  });

  startOpts(pipeline.command('run').description('start a pipeline, follow its progress and print the results')).action(async (opts: StartOptions) => {
    const input = buildPipelineInput(opts);
    await withClient(async (client) => {
      const handle = await startPipeline(client, input, opts);
      log(`started ${handle.workflowId}`);
      const url = uiWorkflowUrl(handle.workflowId);
      if (url) log(`watch it in the Temporal UI: ${url}`);
      for (const line of resultLines(await followPipeline(handle, undefined, log))) print(line);
    });
  });

  pipeline
    .command('status <workflowId>')
    .description("a pipeline's stage, live progress, outputs and metrics")
    .option('--json', 'print {workflowId, execution, status} as JSON (status: the PipelineStatus of lib/pipeline/status.ts, null when unavailable)')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      await withClient(async (client) => {
        const handle = client.workflow.getHandle<typeof trainingPipeline>(workflowId);
        const desc = await handle.describe().catch((err: unknown) => {
          throw err instanceof WorkflowNotFoundError ? new Error(`no workflow '${workflowId}'`) : err;
        });
        let st: PipelineStatus | null = null;
        try {
          st = await livePipelineStatus(handle);
        } catch (err) {
          log(`siamface: status query unavailable: ${(err as Error).message}`);
        }
        if (opts.json) return print(JSON.stringify({ workflowId, execution: desc.status.name, status: st }));
        print(`${workflowId}: ${desc.status.name}${st ? `, stage ${st.stage}` : ''}`);
        if (st) for (const line of statusLines(st)) print(line);
      });
    });

  pipeline
    .command('resume <workflowId>')
    .description('start a failed, cancelled or terminated pipeline again with its original config: finished stages are skipped and training continues from its last checkpoint')
    .option('--no-follow', 'return once started')
    .action(async (workflowId: string, opts: { follow: boolean }) => {
      await withClient(async (client) => {
        const old = client.workflow.getHandle<typeof trainingPipeline>(workflowId);
        const desc = await old.describe();
        if (desc.status.name === 'RUNNING') throw new Error(`${workflowId} is still running: nothing to resume`);
        if (desc.status.name === 'COMPLETED') throw new Error(`${workflowId} already completed`);
        const history = await old.fetchHistory();
        const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
        const payloads = started?.input?.payloads;
        if (!payloads?.length) throw new Error(`cannot read the original input of ${workflowId}`);
        const input = client.options.loadedDataConverter.payloadConverter.fromPayload<PipelineConfigInput>(payloads[0]);
        const handle = await client.workflow.start(trainingPipeline, { taskQueue: desc.taskQueue, workflowId, args: [input] });
        log(`resumed ${workflowId} (new run ${handle.firstExecutionRunId}); previous run ${desc.runId} ended ${desc.status.name}`);
        if (!opts.follow) return print(workflowId);
        for (const line of resultLines(await followPipeline(handle, undefined, log))) print(line);
      });
    });

  pipeline
    .command('stop-training <workflowId>')
    .description('stop training early; the pipeline continues to evaluation with the best checkpoint')
    .option('--reason <text>', 'recorded in the status', 'requested from the CLI')
    .action(async (workflowId: string, opts: { reason: string }) => {
      await withClient(async (client) => {
        await client.workflow.getHandle<typeof trainingPipeline>(workflowId).signal(stopTrainingSignal, { reason: opts.reason });
        print(`stop requested for ${workflowId}`);
      });
    });

  pipeline
    .command('cancel <workflowId>')
    .description('cancel a pipeline; a running training step saves a checkpoint first')
    .action(async (workflowId: string) => {
      await withClient(async (client) => {
        await client.workflow.getHandle(workflowId).cancel();
        print(`cancellation requested for ${workflowId}`);
      });
    });
}
