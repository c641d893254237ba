import { Option, type Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { taskQueueFromEnv } from '../../lib/config';
import { badInput, SiamfaceError } from '../../lib/errors';
import { objectStoreFromEnv, type ObjectStore } from '../../lib/storage/object-store';
import { ENGINE_PREFERENCES, ModelCache, type EnginePreference } from '../../lib/verify/model-cache';
import { verifyPair } from '../../lib/verify/verify-pair';
import { checkDetectMode } from '../../lib/verify/detection-policy';
import { resultsKey, uploadedInputKey } from '../../lib/verify/job-layout';
import type { ModelRef } from '../../lib/verify/types';
import { isSafeName } from '../../lib/registry/keys';
import type { BatchVerifyInput, BatchVerifyStatus } from '../../lib/verify/batch-status';
import type { BatchSummary } from '../../lib/verify/batch-types';
import { rootCauseMessage, withClient } from '../temporal-client';
import { CLI_EXIT } from '../exit-codes';
import { outputOf, positiveInt, nonNegativeNumber, type CliOutput } from '../options';
import { callerInputPolicy } from '../../lib/security/input-policy';
import { batchVerify, batchStatusQuery } from '../../workflows/batch-verify';

/** Exit codes of `siamface verify` (the CLI's own, cli/exit-codes.ts, named for this command). */
export const VERIFY_EXIT = { same: CLI_EXIT.ok, different: CLI_EXIT.negative, error: CLI_EXIT.error } as const;

export interface VerifyCommandDeps extends CliOutput {
  store?: () => ObjectStore;
}

/** `name`, `name:version` or `:version` (default name). */
export function parseModelRef(s: string | undefined): Partial<ModelRef> | undefined {
  if (!s) return undefined;
  const m = /^([^:]*)(?::([1-9][0-9]*))?$/.exec(s);
  if (!m || (!m[1] && !m[2]) || (m[1] && !isSafeName(m[1]))) throw badInput(`--model must be name, name:version or :version, got ${JSON.stringify(s)}`);
  return { ...(m[1] ? { name: m[1] } : {}), ...(m[2] ? { version: Number(m[2]) } : {}) };
}

const fmt = (v: number, d = 4) => v.toFixed(d);

function duration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function progressLine(s: BatchVerifyStatus, width = 30): string {
  const total = s.total ?? 0;
  const frac = total ? s.pairsDone / total : 0;
  const filled = Math.round(frac * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  if (s.state === 'preparing') return `${bar} preparing job ${s.jobId}...`;
  return `${bar} ${s.pairsDone}/${total} pairs ${(frac * 100).toFixed(1)}% | ${s.throughput.toFixed(1)} pairs/s | errors ${s.errors} | ETA ${duration(s.etaSec)} | ${s.state}`;
}

export function registerVerifyCommands(program: Command, deps: VerifyCommandDeps = {}): void {
  const store = () => (deps.store ?? objectStoreFromEnv)();
  const { print, log } = outputOf(deps);

  program
    .command('verify')
    .description(`are two face photos the same person? exit ${VERIFY_EXIT.same}: same, ${VERIFY_EXIT.different}: different, ${VERIFY_EXIT.error}: error`)
    .argument('<a>', 'image: local path, s3:// URI or http(s):// URL')
    .argument('<b>', 'image: local path, s3:// URI or http(s):// URL')
    .option('--model <name[:version]>', 'model and version (default: the production version of SIAMFACE_MODEL_NAME or siamface)')
    .option('--threshold <distance>', "override the model card's threshold", nonNegativeNumber)
    .option('--detect <mode>', 'auto (per the model card), always, never', 'auto')
    .addOption(new Option('--engine <engine>', 'auto (ONNX when exported), onnx, tfjs (default: SIAMFACE_VERIFY_ENGINE, else auto)').choices(ENGINE_PREFERENCES))
    .option('--json', 'print the JSON result (or error) on stdout instead of the verdict line')
    .action(async (a: string, b: string, opts: { model?: string; threshold?: number; detect: string; engine?: EnginePreference; json?: boolean }) => {
      const s = store();
      let models: ModelCache | undefined;
      try {
        models = new ModelCache(s, { engine: opts.engine, log: (message, fields) => log(JSON.stringify({ msg: message, ...fields })) });
        const result = await verifyPair(
          { a, b, model: parseModelRef(opts.model), threshold: opts.threshold, detect: checkDetectMode(opts.detect) },
          // In-process: the caller reads their own files (their own privileges, not a worker's).
          { models, store: s, policy: callerInputPolicy() },
        );
        if (opts.json) print(JSON.stringify(result));
        else {
          const verdict = result.verified ? 'SAME person' : 'DIFFERENT people';
          print(
            `${verdict}: distance ${fmt(result.distance)} ${result.verified ? '<=' : '>'} threshold ${fmt(result.threshold)}, confidence ${(result.confidence * 100).toFixed(1)}% ` +
              `(model ${result.model.name} v${result.model.version}, ${result.model.engine}, ${Math.round(result.timings.total)} ms)`,
          );
        }
        process.exitCode = result.verified ? VERIFY_EXIT.same : VERIFY_EXIT.different;
      } catch (err) {
        if (!(err instanceof SiamfaceError)) throw err;
        const which = err.details?.which as string | undefined;
        if (opts.json) print(JSON.stringify({ error: { code: err.code, message: err.message, ...(which ? { image: which } : {}) } }));
        else log(`siamface: error (${err.code}): ${err.message}`);
        process.exitCode = VERIFY_EXIT.error;
      } finally {
        await models?.dispose();
      }
    });

  program
    .command('batch-verify')
    .description('verify every pair of a CSV (a,b[,label]) or JSONL file as a Temporal job; results in jobs/<job>/results.jsonl')
    .argument('<input>', 'local file (uploaded to jobs/<job>/input.*) or s3:// URI')
    .option('--out <s3-prefix>', 'also copy results.jsonl and summary.json under this s3:// prefix')
    .option('--model <name[:version]>', 'model and version (default: production; pinned for the whole job)')
    .option('--chunk-size <n>', 'pairs per chunk', positiveInt, 200)
    .option('--concurrency <n>', 'chunks at once', positiveInt, 4)
    .option('--base <uri>', 'resolve relative image paths against this (default: the local input file\'s folder)')
    .option('--threshold <distance>', "override the model card's threshold", nonNegativeNumber)
    .option('--detect <mode>', 'auto, always, never', 'auto')
    .option('--job-id <id>', 'job id (default: generated)')
    .option('--queue <name>', 'task queue of the CPU workers', taskQueueFromEnv('cpu'))
    .option('--detach', 'start the job and return')
    .option('--json', 'print the job summary as JSON on stdout (with --detach: the job and workflow ids)')
    .action(
      async (
        input: string,
        opts: { out?: string; model?: string; chunkSize: number; concurrency: number; base?: string; threshold?: number; detect: string; jobId?: string; queue: string; detach?: boolean; json?: boolean },
      ) => {
        const s = store();
        const jobId = opts.jobId ?? `job-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
        let inputRef = input;
        let baseUri = opts.base;
        if (!input.startsWith('s3://')) {
          const file = path.resolve(input);
          if (!fs.existsSync(file)) throw badInput(`input file ${file} does not exist`);
          const ext = /\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : 'csv';
          inputRef = uploadedInputKey(jobId, ext);
          await s.upload(inputRef, fs.createReadStream(file), { contentType: ext === 'csv' ? 'text/csv' : 'application/x-ndjson' });
          baseUri ??= path.dirname(file);
          log(`uploaded ${file} to ${s.uri(inputRef)}`);
        }
        const args: BatchVerifyInput = {
          jobId,
          input: inputRef,
          model: parseModelRef(opts.model),
          chunkSize: opts.chunkSize,
          concurrency: opts.concurrency,
          ...(opts.out ? { output: opts.out } : {}),
          ...(baseUri ? { baseUri } : {}),
          ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
          detect: checkDetectMode(opts.detect),
        };
        await withClient(async (client) => {
          const handle = await client.workflow.start(batchVerify, { taskQueue: opts.queue, workflowId: `batch-verify-${jobId}`, args: [args] });
          log(`started job ${jobId} (workflow ${handle.workflowId}); results will be in ${s.uri(resultsKey(jobId))}`);
          if (opts.detach) {
            if (opts.json) print(JSON.stringify({ jobId, workflowId: handle.workflowId, results: s.uri(resultsKey(jobId)) }));
            else print(jobId);
            return;
          }
          // Progress is not data: stderr, redrawn in place on a terminal.
          const tty = process.stderr.isTTY && !deps.log;
          let done = false;
          const result = handle.result().finally(() => (done = true));
          result.catch(() => undefined);
          let last = '';
          while (!done) {
            await new Promise((r) => setTimeout(r, 1000));
            const st = await handle.query(batchStatusQuery).catch(() => undefined);
            if (!st) continue;
            const line = progressLine(st);
            if (tty) process.stderr.write(`\r${line.padEnd(last.length)}`);
            else if (line !== last) log(line);
            last = line;
          }
          if (tty) process.stderr.write('\n');
          let summary: BatchSummary;
          try {
            summary = (await result) as BatchSummary;
          } catch (err) {
            throw new Error(`job ${jobId} failed: ${rootCauseMessage(err)}`);
          }
          if (opts.json) return print(JSON.stringify(summary));
          const byCode = Object.entries(summary.errors.byCode).map(([c, n]) => `${c} ${n}`).join(', ');
          print(
            `done: ${summary.rows} pairs in ${duration(summary.durationSec)} (${summary.throughputPairsPerSec.toFixed(1)} pairs/s), ${summary.verified} same, ${summary.notVerified} different, ` +
              `${summary.errors.total} errors${byCode ? ` (${byCode})` : ''}; model ${summary.model.name} v${summary.model.version}`,
          );
          print(`results: ${s.uri(summary.resultsKey)}${summary.output ? `, copied to ${summary.output.results}` : ''}`);
        });
      },
    );
}
