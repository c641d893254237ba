/**
 * What the benchmarks that run the real pipeline share: the local stack with both workers (started through the CLI,
 * as a user would), and the committed CPU configs trained under bench-only model names, so a bench never moves the
 * configs' own production aliases. Training is idempotent: a config already trained on this stack reuses its run.
 */
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { taskQueueFromEnv, temporalConfig } from '../../lib/config';
import { buildPipelineInput } from '../../cli/commands/pipeline';
import { runIdFor } from '../../activities/pipeline';
import { resolvePipelineConfig } from '../../lib/pipeline/config';
import { datasetIdFor } from '../../lib/data/sources';
import type { PipelineResult, PipelineStatus } from '../../lib/pipeline/status';
import { trainingPipeline, pipelineStatusQuery } from '../../workflows/training-pipeline';
import { SHARED } from './shared-photos';
import type { ObjectStore } from '../../lib/storage/object-store';
import type { RunJson } from '../../lib/train/run-record';
import { runJsonKey } from '../../lib/train/run-layout';
import { completeCheckpoints } from '../../lib/train/checkpoint';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export { SHARED } from './shared-photos';
/** The queue `workers start` polls (SIAMFACE_CPU_TASK_QUEUE, else siamface-cpu). */
export const CPU_QUEUE = taskQueueFromEnv('cpu');

/** The rows the benches can train: committed configs (and the pretrained port, before any fine-tuning). */
export const BENCH_CONFIGS: Record<string, { file: string; note: string; edit?: (c: Record<string, any>) => void }> = {
  baseline: { file: 'configs/lfw-cpu-small.json', note: 'DenseNet121 from scratch, contrastive (the previous README config)' },
  'faceres-pretrained': {
    file: 'configs/lfw-cpu-faceres.json',
    note: 'faceres34 with face-api.js weights, no training (the weights fine-tuning starts from)',
    edit: (c) => {
      c.training.phase1 = { steps: 0, lr: 1e-3 };
      c.training.phase2 = { steps: 0, lr: 1e-5 };
    },
  },
  faceres: { file: 'configs/lfw-cpu-faceres.json', note: 'faceres34 fine-tuned' },
  'densenet-quick': {
    file: 'configs/lfw-cpu-small.json',
    note: 'DenseNet121 at 64 px after 20 steps: a serving-cost stand-in (centre crop, no detection) for speed benches',
    edit: (c) => {
      c.training.phase1 = { ...c.training.phase1, steps: 10 };
      c.training.phase2 = { ...c.training.phase2, steps: 10 };
    },
  },
  distill: { file: 'configs/lfw-cpu-distill.json', note: 'DenseNet121 student distilled from faceres34' },
};

/** Runs the siamface CLI; its stdout. */
export function siamface(args: string[]): string {
  return execFileSync(path.join(ROOT, 'bin', 'siamface'), args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Brings up the local stack and both workers, allowed to read the shared face sets (the bench is their operator). */
export async function startLocalStack(): Promise<{ client: Client; close: () => Promise<void> }> {
  process.env.SIAMFACE_DATASET_ROOTS ??= SHARED;
  process.env.SIAMFACE_IMAGE_ROOTS ??= SHARED;
  siamface(['stack', 'up']);
  siamface(['workers', 'start']);
  const connection = await Connection.connect({ address: temporalConfig().address });
  return { client: new Client({ connection, namespace: temporalConfig().namespace }), close: () => connection.close() };
}

export type BenchConfigSpec = (typeof BENCH_CONFIGS)[string];

/** Trains (or reuses) one bench config through the real pipeline, registered as `bench-<name>`. */
export async function trainBenchConfig(client: Client, name: string, phase2Steps?: number): Promise<{ result: PipelineResult; status: PipelineStatus; seconds: number }> {
  const spec = BENCH_CONFIGS[name];
  if (!spec) throw new Error(`unknown config ${name} (known: ${Object.keys(BENCH_CONFIGS).join(', ')})`);
  return trainBenchSpec(client, name, spec, phase2Steps);
}

/** Trains (or reuses) a config file with a bench's edits through the real pipeline, registered as `bench-<name>`. */
export async function trainBenchSpec(
  client: Client,
  name: string,
  spec: BenchConfigSpec,
  phase2Steps?: number,
): Promise<{ result: PipelineResult; status: PipelineStatus; seconds: number }> {
  const input = buildPipelineInput({ config: path.join(ROOT, spec.file), queue: CPU_QUEUE });
  const cfg = input as unknown as Record<string, any>;
  spec.edit?.(cfg);
  if (phase2Steps !== undefined) cfg.training.phase2 = { ...cfg.training.phase2, steps: phase2Steps };
  // The run id `pipeline run` gives this (edited) config, so a config already trained on this stack is reused.
  const resolved = resolvePipelineConfig(input);
  cfg.runId = runIdFor(resolved, datasetIdFor(resolved.dataset.source, resolved.dataset.id));
  cfg.promotion = { ...(cfg.promotion ?? {}), modelName: `bench-${name}` };
  const t0 = Date.now();
  const handle = await client.workflow.start(trainingPipeline, { taskQueue: CPU_QUEUE, workflowId: `bench-${name}-${t0}`, args: [input] });
  const result = await handle.result();
  const status = await handle.query(pipelineStatusQuery);
  return { result, status, seconds: (Date.now() - t0) / 1000 };
}

/** The model version a bench pipeline registered. */
export function benchModelOf(name: string, result: PipelineResult): { name: string; version: number } {
  const version = result.promotion.version ?? result.promotion.productionVersion;
  if (!version) throw new Error(`${name}: the pipeline registered no version (${JSON.stringify(result.promotion)})`);
  return { name: `bench-${name}`, version };
}

/**
 * A finished run's training wall time in seconds, from its run.json rather than from this pipeline's stage (which
 * takes a few seconds when the run is reused). It counts the work kept: an attempt that lost its worker counts up to
 * the checkpoint the next attempt resumed from (an outage between attempts is not counted; steps redone after it
 * are), and an attempt whose successor started over counts nothing. null while the run is unfinished, or when that
 * checkpoint has since been pruned.
 */
export async function trainingSecondsOf(store: ObjectStore, runId: string): Promise<number | null> {
  const run = (await store.getJsonIfExists<RunJson>(runJsonKey(runId)))?.value;
  if (!run || run.status === 'running' || !run.attempts.length) return null;
  const savedAt = new Map<number, string>();
  // Only a run that lost an attempt needs its checkpoints' times (each one a meta.json read).
  if (run.attempts.length > 1) for await (const ref of completeCheckpoints(store, runId)) savedAt.set(ref.meta.step, ref.meta.createdAt);
  let seconds = 0;
  for (const [i, attempt] of run.attempts.entries()) {
    const next = run.attempts[i + 1];
    if (next && next.resumedFromStep === null) continue;
    const end = next ? savedAt.get(next.resumedFromStep!) : run.updatedAt;
    if (!end) return null;
    seconds += (Date.parse(end) - Date.parse(attempt.startedAt)) / 1000;
  }
  return seconds;
}
