/**
 * Batch verification throughput against the raw work it does. A job of N pairs over a pool of unique images from
 * lfw-train and celeba-wild runs through `siamface batch-verify` on the local stack (Temporal + MinIO + the CPU
 * worker: chunks, the job's embedding cache, results in S3). Then, with the workers idle, the same model embeds a
 * sample of the same images in this process, with no job machinery: read, prepare (decode, detect and align as the
 * job's --detect says), embed in batches of 16, one after the other. It prints both rates in unique images per
 * second and their ratio (the target: the job reaches >= 80% of the raw rate).
 *
 *   node dist/bench/batch-bench.js [--pairs 10000] [--images 600] [--config densenet-quick] [--detect auto]
 *                                  [--chunk-size 200] [--concurrency 4] [--raw-images 200] [--seed 1]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { objectStoreFromEnv } from '../lib/storage/object-store';
import { ModelCache } from '../lib/verify/model-cache';
import { prepareImage, readImageBytes } from '../lib/verify/prepare-image';
import { embedPrepared } from '../lib/verify/verify-pair';
import { mapLimit } from '../lib/verify/embedding-cache';
import { seededRandom } from '../lib/data/pairs';
import { csvField } from '../lib/data/csv';
import { inputPolicyFromEnv } from '../lib/security/input-policy';
import type { BatchSummary } from '../lib/verify/batch-types';
import type { DetectMode } from '../lib/verify/types';
import { batchStatusQuery } from '../workflows/batch-verify';
import { SHARED, benchModelOf, siamface, startLocalStack, trainBenchConfig } from './support/bench-pipeline';

const EMBED_BATCH = 16;
const SETS = ['lfw-train', 'celeba-wild'];

function imagesOf(set: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(SHARED, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/\.(jpe?g|png)$/i.test(e.name)) out.push(rel);
    }
  };
  walk(set);
  return out;
}

/** A seeded pool of `n` images, half from each set, and `pairs` random pairs over it (a != b). */
function buildJob(n: number, pairs: number, seed: number): { pool: string[]; rows: Array<[string, string]> } {
  const rand = seededRandom(`batch-bench-${seed}`);
  const pick = <T>(xs: T[], k: number) => {
    const copy = [...xs];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy.slice(0, k);
  };
  const pool = SETS.flatMap((s, i) => pick(imagesOf(s), i === 0 ? Math.ceil(n / 2) : Math.floor(n / 2)));
  const rows: Array<[string, string]> = [];
  while (rows.length < pairs) {
    const a = pool[Math.floor(rand() * pool.length)];
    const b = pool[Math.floor(rand() * pool.length)];
    if (a !== b) rows.push([a, b]);
  }
  return { pool, rows };
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--pairs <n>', 'pairs in the job', '10000')
    .option('--images <n>', 'unique images the pairs are drawn from (half lfw-train, half celeba-wild)', '600')
    .option('--config <name>', 'bench model (trained or reused through the pipeline; faceres-pretrained detects faces while sharding LFW: slow)', 'densenet-quick')
    .option('--detect <mode>', 'auto, always or never (as batch-verify --detect)', 'auto')
    .option('--chunk-size <n>', 'pairs per chunk', '200')
    .option('--concurrency <n>', 'chunks at once', '4')
    .option('--raw-images <n>', 'images embedded in-process for the raw rate', '200')
    .option('--seed <n>', 'seed of the pool and pairs', '1')
    .parse()
    .opts<{ pairs: string; images: string; config: string; detect: DetectMode; chunkSize: string; concurrency: string; rawImages: string; seed: string }>();

  const { client, close } = await startLocalStack();
  const { result } = await trainBenchConfig(client, opts.config);
  const model = benchModelOf(opts.config, result);
  const { pool, rows } = buildJob(Number(opts.images), Number(opts.pairs), Number(opts.seed));
  const unique = new Set(rows.flat()).size;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batch-bench-'));
  const csv = path.join(dir, 'pairs.csv');
  fs.writeFileSync(csv, ['a,b', ...rows.map(([a, b]) => `${csvField(a)},${csvField(b)}`)].join('\n') + '\n');

  // --- the job, as a user runs it -------------------------------------------------------------------------------
  const jobId = `batch-bench-${Date.now()}`;
  console.error(`[batch-bench] job ${jobId}: ${rows.length} pairs over ${unique} unique images, model ${model.name} v${model.version}, detect ${opts.detect}`);
  const t0 = Date.now();
  const summary = JSON.parse(
    siamface(['batch-verify', csv, '--json', '--job-id', jobId, '--model', `${model.name}:${model.version}`, '--base', SHARED, '--detect', opts.detect, '--chunk-size', opts.chunkSize, '--concurrency', opts.concurrency]),
  ) as BatchSummary;
  const jobSec = (Date.now() - t0) / 1000;
  const status = await client.workflow.getHandle(`batch-verify-${jobId}`).query(batchStatusQuery);
  await close();
  if (summary.rows !== rows.length) throw new Error(`the job gave ${summary.rows} results for ${rows.length} rows`);

  // --- the raw work, in this process, workers idle ------------------------------------------------------------
  const store = objectStoreFromEnv();
  const serving = await new ModelCache(store).get(model);
  const policy = inputPolicyFromEnv(); // startLocalStack allowed SHARED as an image root
  const sample = pool.filter((p) => rows.some(([a, b]) => a === p || b === p)).slice(0, Number(opts.rawImages));
  let prepSec = 0;
  let embedSec = 0;
  let embeddedRaw = 0;
  for (let k = 0; k < sample.length; k += EMBED_BATCH) {
    const part = sample.slice(k, k + EMBED_BATCH);
    const p0 = Date.now();
    const prepared: Buffer[] = [];
    await mapLimit(part, 2, async (rel) => {
      try {
        const data = await readImageBytes(rel, { baseUri: SHARED, policy });
        prepared.push((await prepareImage(data, { prep: serving.prep, detect: opts.detect, name: rel })).rgb);
      } catch {
        /* an image the job also reports as an error row (no face, ...) */
      }
    });
    const e0 = Date.now();
    if (prepared.length) await embedPrepared(serving, prepared);
    embeddedRaw += part.length;
    prepSec += (e0 - p0) / 1000;
    embedSec += (Date.now() - e0) / 1000;
  }
  const rawRate = embeddedRaw / (prepSec + embedSec);
  const jobRate = unique / jobSec;
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log(`| pairs | unique images | job wall s | job pairs/s | job unique img/s | images embedded by the job | raw img/s (prepare + embed) | prepare only img/s | embed only img/s | job / raw |`);
  console.log(`|---|---|---|---|---|---|---|---|---|---|`);
  console.log(
    `| ${rows.length} | ${unique} | ${f(jobSec)} | ${f(rows.length / jobSec)} | ${f(jobRate)} | ${status.imagesEmbedded ?? '?'} (+${status.imagesCached ?? '?'} from cache) | ${f(rawRate)} | ${f(embeddedRaw / prepSec)} | ${f(embeddedRaw / embedSec)} | **${f((100 * jobRate) / rawRate, 0)}%** |`,
  );
  console.log(`model ${model.name} v${model.version} (${serving.engine.kind}), detect ${opts.detect}, chunk size ${opts.chunkSize}, concurrency ${opts.concurrency}; errors: ${JSON.stringify(summary.errors.byCode)}`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`batch-bench: ${err.stack}`);
    process.exit(1);
  },
);
