/**
 * Ingest benchmark: images/s through decode + crop + resize + shard into MinIO/S3 (shardDataset), and peak RSS.
 * The raw copy is made once (fetchDataset, not timed); each timed run deletes the shards and shards again.
 *
 *   node dist/bench/ingest-bench.js [--set lfw-train] [--identities 0=all] [--size 128] [--shard-size 1000] [--runs 3]
 * S3 settings come from the environment (SIAMFACE_S3_ENDPOINT, ...) or the running local stack; bucket siamface-bench.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { s3Config } from '../lib/config';
import { ObjectStore } from '../lib/storage/object-store';
import { localRunContext } from '../lib/progress';
import { fetchDataset } from '../lib/data/fetch-dataset';
import { DEFAULT_SHARD_CONCURRENCY, shardDataset } from '../lib/data/shard-dataset';
import { shardSetsPrefix } from '../lib/data/sources';
import { limiter } from '../lib/data/pool';
import { median } from './support/stats';

/** Issue 14's ingest target. */
const TARGET_IMAGES_PER_SECOND = 1000;

/** Decode only (no S3, no crop, resize or encode), as many at once as libvips' pool takes: the bound of any ingest here. */
async function decodeOnlyRate(root: string): Promise<number> {
  const files = fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => /\.jpe?g$/i.test(f)).sort();
  const buffers = files.map((f) => fs.readFileSync(path.join(root, f)));
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    const pool = limiter(4);
    const start = process.hrtime.bigint();
    for (const b of buffers) await pool.start(() => sharp(b).raw().toBuffer());
    await pool.drain();
    rates.push(buffers.length / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  return median(rates);
}

async function main() {
  const opts = new Command()
    .option('--set <name>', 'shared data set under the data root', 'lfw-train')
    .option('--data <dir>', 'shared data root (default: ../shared/data beside the checkout)', process.env.SIAMFACE_SHARED_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data'))
    .option('--identities <n>', 'first N identity folders (0 = all)', '0')
    .option('--size <px>', 'output image size', '128')
    .option('--shard-size <n>', 'images per shard', '1000')
    .option('--concurrency <n>', 'images read and prepared at once', String(DEFAULT_SHARD_CONCURRENCY))
    .option('--runs <n>', 'timed runs', '3')
    .option('--bucket <name>', 'bucket', 'siamface-bench')
    .parse()
    .opts();
  // The bench is the operator: its fetch may read the shared data and the subset it copies to a temporary folder.
  process.env.SIAMFACE_DATASET_ROOTS ??= [opts.data, os.tmpdir()].join(path.delimiter);
  const store = new ObjectStore({ ...s3Config(), bucket: opts.bucket });
  await store.ensureBucket();

  let location = path.join(opts.data, opts.set);
  let tmp: string | undefined;
  const identities = Number(opts.identities);
  if (identities > 0) {
    // A fixed folder: the raw copy's manifest names its source, so a rerun must read the same location.
    tmp = path.join(os.tmpdir(), `siamface-ingest-bench-${opts.set}-${identities}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    const names = fs.readdirSync(location, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort().slice(0, identities);
    for (const n of names) fs.cpSync(path.join(location, n), path.join(tmp, n), { recursive: true });
    location = tmp;
  }
  const datasetId = `bench-${opts.set}-${identities || 'all'}`;
  const t0 = Date.now();
  const fetched = await fetchDataset(store, { source: { kind: 'folder', location }, datasetId }, localRunContext());
  console.log(`raw copy: ${fetched.images} images, ${(fetched.bytes / 1e6).toFixed(1)} MB, ${fetched.uploaded} uploaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const results: { rate: number; seconds: number; peakRssMb: number }[] = [];
  for (let run = 1; run <= Number(opts.runs); run++) {
    await store.deletePrefix(shardSetsPrefix(datasetId));
    (global as { gc?: () => void }).gc?.();
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
    const start = process.hrtime.bigint();
    const r = await shardDataset(
      store,
      { datasetId, imageSize: Number(opts.size), shardSize: Number(opts.shardSize), concurrency: Number(opts.concurrency), maxBadFraction: 1 },
      localRunContext(),
    );
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    clearInterval(sampler);
    const images = r.images + r.skippedImages;
    results.push({ rate: images / seconds, seconds, peakRssMb: peak / 2 ** 20 });
    console.log(`run ${run}: ${images} images in ${seconds.toFixed(1)} s = ${(images / seconds).toFixed(1)} images/s, ${r.shards} shards, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
  }
  if (!results.length) return;
  const ceiling = await decodeOnlyRate(location);
  const rate = median(results.map((r) => r.rate));
  console.log(
    `median ${rate.toFixed(1)} images/s = ${((100 * rate) / TARGET_IMAGES_PER_SECOND).toFixed(0)}% of the ${TARGET_IMAGES_PER_SECOND} images/s target; ` +
      `decoding the same JPEGs from local disk alone, on all ${os.cpus().length} cores: ${ceiling.toFixed(0)} images/s (the ceiling here)`,
  );
  console.log(
    JSON.stringify({
      bench: 'ingest',
      set: opts.set,
      images: fetched.images,
      size: Number(opts.size),
      cores: os.cpus().length,
      medianImagesPerSecond: Number(rate.toFixed(1)),
      targetImagesPerSecond: TARGET_IMAGES_PER_SECOND,
      decodeOnlyImagesPerSecond: Math.round(ceiling),
      medianPeakRssMiB: Math.round(median(results.map((r) => r.peakRssMb))),
      runs: results.map((r) => Number(r.rate.toFixed(1))),
    }),
  );
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`ingest-bench: ${(err as Error).message}`);
    process.exit(1);
  },
);
