import type { Command } from 'commander';
import { outputOf, positiveInt, type CliOutput } from '../options';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { taskQueueFromEnv } from '../../lib/config';
import { badInput } from '../../lib/errors';
import { objectStoreFromEnv, type ObjectStore } from '../../lib/storage/object-store';
import { checkDetectMode } from '../../lib/verify/detection-policy';
import { evaluationInputKey } from '../../lib/eval/evaluation-layout';
import type { EvaluationSummary } from '../../lib/eval/evaluate-model';
import type { EvaluateModelInput } from '../../workflows/evaluate-model';
import { parseModelRef } from './verify';
import { rootCauseMessage, withClient } from '../temporal-client';
import { evaluateModel } from '../../workflows/evaluate-model';

export interface EvaluateCommandDeps extends CliOutput {
  store?: () => ObjectStore;
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

export function registerEvaluateCommand(program: Command, deps: EvaluateCommandDeps = {}): void {
  const store = () => (deps.store ?? objectStoreFromEnv)();
  const { print, log } = outputOf(deps);
  program
    .command('evaluate')
    .description('evaluate a registered model on labelled pairs (ROC, EER, TAR@FAR, 10-fold accuracy, calibration, report.html) as a Temporal job')
    .requiredOption('--pairs <file|s3://>', 'CSV a,b,label or JSONL {a,b,label}: a local file (uploaded) or an s3:// URI')
    .option('--model <name[:version]>', 'model and version (default: the production version of SIAMFACE_MODEL_NAME or siamface)')
    .option('--detect <mode>', 'auto (per the model card), always, never', 'auto')
    .option('--base <uri>', "resolve relative image paths against this (default: the local pairs file's folder)")
    .option('--chunk-size <n>', 'pairs per chunk', positiveInt, 200)
    .option('--concurrency <n>', 'chunks at once', positiveInt, 4)
    .option('--queue <name>', 'task queue of the CPU workers', taskQueueFromEnv('cpu'))
    .option('--json', 'print only the JSON summary')
    .action(async (opts: { pairs: string; model?: string; detect: string; base?: string; chunkSize: number; concurrency: number; queue: string; json?: boolean }) => {
      const s = store();
      const detect = checkDetectMode(opts.detect);
      const model = parseModelRef(opts.model);
      let inputRef = opts.pairs;
      let baseUri = opts.base;
      if (!opts.pairs.startsWith('s3://')) {
        const file = path.resolve(opts.pairs);
        if (!fs.existsSync(file)) throw badInput(`--pairs file ${file} does not exist`);
        const bytes = fs.readFileSync(file);
        const ext = /\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : 'csv';
        // By content, so evaluating the same file again resumes the same evaluation.
        inputRef = evaluationInputKey(createHash('sha256').update(bytes).digest('hex').slice(0, 32), ext);
        if (!(await s.exists(inputRef))) await s.putObject(inputRef, bytes, { contentType: ext === 'csv' ? 'text/csv' : 'application/x-ndjson' });
        baseUri ??= path.dirname(file);
        log(`uploaded ${file} to ${s.uri(inputRef)}`);
      }
      const args: EvaluateModelInput = {
        input: inputRef,
        detect,
        chunkSize: opts.chunkSize,
        concurrency: opts.concurrency,
        ...(model ? { model } : {}),
        ...(baseUri ? { baseUri } : {}),
      };
      const workflowId = `evaluate-${createHash('sha256').update(JSON.stringify([inputRef, model ?? null, detect, baseUri ?? null])).digest('hex').slice(0, 16)}`;
      const summary = await withClient(async (client) => {
        const handle = await client.workflow.start(evaluateModel, { taskQueue: opts.queue, workflowId, args: [args] }).catch(async (err: Error) => {
          // The same evaluation is already running (or ran): follow it instead of starting another.
          if (err.name === 'WorkflowExecutionAlreadyStartedError') return client.workflow.getHandle<typeof evaluateModel>(workflowId);
          throw err;
        });
        log(`evaluating (workflow ${handle.workflowId}) ...`);
        try {
          return (await handle.result()) as EvaluationSummary;
        } catch (err) {
          throw new Error(`evaluation failed: ${rootCauseMessage(err)}`);
        }
      });
      if (opts.json) {
        print(JSON.stringify(summary));
        return;
      }
      const m = summary.metrics;
      const errors = Object.entries(summary.errors.byCode).map(([c, n]) => `${c} ${n}`).join(', ');
      print(`model ${summary.model.name} v${summary.model.version} on ${summary.scored} of ${summary.rows} pairs${errors ? ` (${errors})` : ''}`);
      print(
        `  10-fold accuracy ${pct(m.kFoldAccuracy)} ± ${pct(m.kFoldStd)} | ROC AUC ${m.rocAuc.toFixed(4)} | EER ${pct(m.eer)} | TAR@FAR1e-2 ${pct(m.tarAtFar1e2)} | TAR@FAR1e-3 ${pct(m.tarAtFar1e3)}`,
      );
      print(`  at the model's threshold ${summary.threshold.value.toFixed(4)}: accuracy ${pct(summary.threshold.accuracy)}, TAR ${pct(summary.threshold.tar)}, FAR ${pct(summary.threshold.far)}; Brier ${m.brier.toFixed(4)}`);
      print(`report: ${s.uri(summary.htmlKey)}`);
    });
}
