/**
 * Scale benchmark (issue 15). Builds a CelebA-sized archive in Kaggle's exact layout from the shared face images
 * (in a scratch folder, never committed), serves it through the loopback Kaggle endpoint the tests use, and runs the
 * data stages on it through the real fetch path, printing per stage: wall time, peak RSS, S3 requests by kind and
 * objects written. Stages run in this process, as a worker runs them.
 *
 * The archive: `--images` distinct JPEGs at 178x218 (each a random crop, flip, gain/offset colour jitter and JPEG
 * quality of a shared photo, so no two files are byte-identical), named 000001.jpg... under
 * img_align_celeba/img_align_celeba/, Kaggle's four CSVs with their real headers, and an identity_CelebA.txt beside it
 * (Kaggle's archive has none) spreading the images over `--identities` identities in shuffled file order.
 *
 *   node dist/bench/celeba-scale.js [--images 202599] [--identities 10177] [--dir /tmp/siamface-celeba-scale]
 *                                   [--size 128] [--stages fetch,shard]
 * S3 settings come from the environment or the running local stack (`./bin/siamface stack up`); bucket siamface-scale.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Command } from 'commander';
import sharp from 'sharp';
import * as yazl from 'yazl';
import { s3Config } from '../lib/config';
import { ObjectStore } from '../lib/storage/object-store';
import { localRunContext } from '../lib/progress';
import { fetchDataset } from '../lib/data/fetch-dataset';
import { shardDataset } from '../lib/data/shard-dataset';
import { seededRandom } from '../lib/data/pairs';
import { mapLimit } from '../lib/data/pool';
import { startKaggleEndpoint } from '../test/support/kaggle-endpoint';
import { SHARED, photosSpread } from './support/shared-photos';
import { runBench } from './support/run-bench';

const IMAGE_DIR = 'img_align_celeba/img_align_celeba';
const ATTRIBUTES = '5_o_Clock_Shadow,Arched_Eyebrows,Attractive,Bags_Under_Eyes,Bald,Bangs,Big_Lips,Big_Nose,Black_Hair,Blond_Hair,Blurry,Brown_Hair,Bushy_Eyebrows,Chubby,Double_Chin,Eyeglasses,Goatee,Gray_Hair,Heavy_Makeup,High_Cheekbones,Male,Mouth_Slightly_Open,Mustache,Narrow_Eyes,No_Beard,Oval_Face,Pale_Skin,Pointy_Nose,Receding_Hairline,Rosy_Cheeks,Sideburns,Smiling,Straight_Hair,Wavy_Hair,Wearing_Earrings,Wearing_Hat,Wearing_Lipstick,Wearing_Necklace,Wearing_Necktie,Young';

/** CelebA's official partition by file number: 1-162770 train, 162771-182637 val, the rest test. */
const partitionOf = (n: number) => (n <= 162770 ? 0 : n <= 182637 ? 1 : 2);
const fileName = (n: number) => `${String(n).padStart(6, '0')}.jpg`;

interface Built {
  zipFile: string;
  identityFile: string;
  images: number;
  identities: number;
  bytes: number;
  seconds: number;
}

/** Builds (or reuses, when built with the same parameters) the archive and the identity file in `dir`. */
async function buildArchive(dir: string, images: number, identities: number): Promise<Built> {
  const zipFile = path.join(dir, 'archive.zip');
  const identityFile = path.join(dir, 'identity_CelebA.txt');
  const stamp = path.join(dir, 'build.json');
  const params = { images, identities, version: 3 };
  if (fs.existsSync(stamp) && fs.existsSync(zipFile)) {
    const prev = JSON.parse(fs.readFileSync(stamp, 'utf8')) as Built & { params: typeof params };
    if (JSON.stringify(prev.params) === JSON.stringify(params)) return prev;
  }
  fs.mkdirSync(dir, { recursive: true });
  const rand = seededRandom(`celeba-scale-${images}-${identities}`);
  // Source photos: every shared set, a pool of photos per source identity.
  const sources = ['celeba-wild', 'lfw-train', 'faces-dev'].flatMap((set) => photosSpread(path.join(SHARED, set), Number.MAX_SAFE_INTEGER).map((p) => ({ identity: `${set}/${path.dirname(p)}`, file: path.join(SHARED, set, p) })));
  const byIdentity = new Map<string, string[]>();
  for (const s of sources) byIdentity.set(s.identity, [...(byIdentity.get(s.identity) ?? []), s.file]);
  const pools = [...byIdentity.values()];
  // Identity of each file number: every identity gets its share, in shuffled file order (as in CelebA).
  const identityOf = Array.from({ length: images }, (_, k) => 1 + (k % identities));
  for (let i = images - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [identityOf[i], identityOf[j]] = [identityOf[j], identityOf[i]];
  }
  // Per-image transform parameters drawn up front, so the output does not depend on completion order.
  const variants = identityOf.map((identity) => {
    const pool = pools[(identity - 1) % pools.length];
    return { src: pool[Math.floor(rand() * pool.length)], area: 0.8 + 0.2 * rand(), x: rand(), y: rand(), flip: rand() < 0.5, gain: 0.85 + 0.3 * rand(), offset: -15 + 30 * rand(), quality: 85 + Math.floor(10 * rand()) };
  });

  const started = Date.now();
  // Each source photo once, shrunk to a little more than the output: the 202,599 variants then decode small JPEGs.
  const small = new Map<string, Buffer>();
  const used = [...new Set(variants.map((p) => p.src))];
  const shrunk = await mapLimit(used, 4, (file) => sharp(file).rotate().resize(220, 270, { fit: 'cover' }).removeAlpha().jpeg({ quality: 95 }).toBuffer());
  used.forEach((file, k) => small.set(file, shrunk[k]));
  const zip = new yazl.ZipFile();
  const out = fs.createWriteStream(zipFile);
  const written = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    out.on('error', reject);
  });
  zip.outputStream.pipe(out);
  const mtime = new Date('2018-01-01T00:00:00Z');
  zip.addEmptyDirectory('img_align_celeba/', { mtime });
  zip.addEmptyDirectory(`${IMAGE_DIR}/`, { mtime });
  // Made in batches, added in file order: the archive is the same whatever the timing.
  const BATCH = 512;
  for (let from = 0; from < images; from += BATCH) {
    const batch = variants.slice(from, from + BATCH);
    const jpegs = await mapLimit(batch, 4, async (p) => {
      const w = Math.round(220 * Math.sqrt(p.area));
      const h = Math.round(270 * Math.sqrt(p.area));
      let img = sharp(small.get(p.src)!).extract({ left: Math.floor(p.x * (220 - w)), top: Math.floor(p.y * (270 - h)), width: w, height: h });
      if (p.flip) img = img.flop();
      // A linear colour jitter: sharp's modulate (brightness, saturation) costs a third of the build's time.
      return img.linear(p.gain, p.offset).resize(178, 218, { fit: 'cover' }).removeAlpha().jpeg({ quality: p.quality }).toBuffer();
    });
    jpegs.forEach((jpeg, k) => zip.addBuffer(jpeg, `${IMAGE_DIR}/${fileName(from + k + 1)}`, { compress: false, mtime }));
    if ((from / BATCH) % 40 === 0) console.log(`[celeba-scale] ${from + jpegs.length}/${images} images`);
    // Let the zip stream catch up, so memory holds a batch or two, not the archive.
    while (out.writableLength > 64 * 1024 * 1024) await new Promise((r) => setTimeout(r, 20));
  }
  const csv = (header: string, row: (n: number) => string) => {
    const lines = [header];
    for (let n = 1; n <= images; n++) lines.push(row(n));
    return Buffer.from(lines.join('\r\n') + '\r\n');
  };
  zip.addBuffer(csv('image_id,partition', (n) => `${fileName(n)},${partitionOf(n)}`), 'list_eval_partition.csv', { mtime });
  zip.addBuffer(csv(`image_id,${ATTRIBUTES}`, (n) => `${fileName(n)},${ATTRIBUTES.split(',').map((_, a) => ((n * 31 + a * 7) % 3 === 0 ? '1' : '-1')).join(',')}`), 'list_attr_celeba.csv', { mtime });
  zip.addBuffer(csv('image_id,x_1,y_1,width,height', (n) => `${fileName(n)},95,71,226,313`), 'list_bbox_celeba.csv', { mtime });
  zip.addBuffer(csv('image_id,lefteye_x,lefteye_y,righteye_x,righteye_y,nose_x,nose_y,leftmouth_x,leftmouth_y,rightmouth_x,rightmouth_y', (n) => `${fileName(n)},69,109,106,113,77,142,73,152,108,154`), 'list_landmarks_align_celeba.csv', { mtime });
  zip.end();
  await written;
  fs.writeFileSync(identityFile, identityOf.map((id, k) => `${fileName(k + 1)} ${id}`).join('\n') + '\n');
  const built: Built = { zipFile, identityFile, images, identities, bytes: fs.statSync(zipFile).size, seconds: (Date.now() - started) / 1000 };
  fs.writeFileSync(stamp, JSON.stringify({ ...built, params }));
  return built;
}

/** Counts the S3 requests a store makes, by command. */
function countRequests(store: ObjectStore): Map<string, number> {
  const counts = new Map<string, number>();
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      counts.set(context.commandName ?? '?', (counts.get(context.commandName ?? '?') ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'siamfaceScaleRequestCounter' },
  );
  return counts;
}

async function measured<T>(name: string, counts: Map<string, number>, run: () => Promise<T>) {
  counts.clear();
  (global as { gc?: () => void }).gc?.();
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = Date.now();
  try {
    const result = await run();
    const requests = Object.fromEntries([...counts.entries()].sort());
    const writes = (counts.get('PutObjectCommand') ?? 0) + (counts.get('CompleteMultipartUploadCommand') ?? 0);
    return { stage: name, seconds: (Date.now() - started) / 1000, peakRssMiB: Math.round(peak / 2 ** 20), requests, objectsWritten: writes, result };
  } finally {
    clearInterval(sampler);
  }
}

runBench('celeba-scale', async () => {
  const o = new Command()
    .option('--images <n>', 'images in the archive', '202599')
    .option('--identities <n>', 'identities', '10177')
    .option('--dir <folder>', 'scratch folder for the archive (reused when built with the same parameters)', path.join(os.tmpdir(), 'siamface-celeba-scale'))
    .option('--size <px>', 'shard image size', '128')
    .option('--stages <list>', 'stages to run: fetch, shard', 'fetch,shard')
    .option('--build-only', 'build the archive and stop')
    .parse()
    .opts<{ images: string; identities: string; dir: string; size: string; stages: string; buildOnly?: boolean }>();
  const images = Number(o.images);
  const identities = Number(o.identities);
  if (!(Number.isInteger(images) && images > 0 && images <= 202599)) throw new Error(`--images must be 1-202599, got ${o.images}`);
  if (!(Number.isInteger(identities) && identities > 0 && identities <= images)) throw new Error(`--identities must be 1-${images}, got ${o.identities}`);
  if (o.buildOnly) {
    await buildArchive(o.dir, images, identities);
    return;
  }
  // Built in a child process: what building leaves in this heap would otherwise count in the stages' peak RSS.
  const child = spawnSync(process.execPath, [__filename, '--build-only', '--images', String(images), '--identities', String(identities), '--dir', o.dir], { stdio: 'inherit' });
  if (child.status !== 0) throw new Error(`building the archive failed (exit ${child.status ?? child.signal})`);
  const built = await buildArchive(o.dir, images, identities); // reads the stamp the child wrote
  console.log(`archive: ${built.images} images of ${built.identities} identities, ${(built.bytes / 2 ** 20).toFixed(0)} MiB (${built.zipFile}), built in ${built.seconds.toFixed(0)} s`);

  // The bench is the operator: its Kaggle stand-in, its credentials, and its scratch folder as a dataset root.
  const user = 'scale-bench';
  const key = createHash('sha256').update(`${user}-${Date.now()}`).digest('hex');
  const kaggle = await startKaggleEndpoint({ zipFile: built.zipFile, user, key });
  Object.assign(process.env, {
    SIAMFACE_TEST_KAGGLE_API_URL: kaggle.apiBase,
    KAGGLE_USERNAME: user,
    KAGGLE_KEY: key,
    SIAMFACE_DATASET_ROOTS: path.resolve(o.dir),
    // The stand-in's storage URL is plain http on loopback.
    SIAMFACE_URL_ALLOW_HTTP: 'true',
    SIAMFACE_URL_ALLOW_PRIVATE: '127.0.0.1/32',
  });
  const store = new ObjectStore({ ...s3Config(), bucket: 'siamface-scale' });
  await store.ensureBucket();
  const counts = countRequests(store);
  const datasetId = `celeba-scale-${images}`;
  const stages = o.stages.split(',');
  const rows = [];
  try {
    if (stages.includes('fetch')) {
      await store.deletePrefix(`datasets/${datasetId}/`);
      const md5 = createHash('md5').update(fs.readFileSync(built.identityFile)).digest('hex');
      rows.push(await measured('fetch', counts, () => fetchDataset(store, { source: { kind: 'kaggle-celeba', identityFile: built.identityFile, identityFileMd5: md5 }, datasetId, tmpDir: path.join(o.dir, 'tmp') }, localRunContext())));
    }
    if (stages.includes('shard')) {
      await store.deletePrefix(`datasets/${datasetId}/shards/`);
      rows.push(await measured('shard', counts, () => shardDataset(store, { datasetId, imageSize: Number(o.size) }, localRunContext())));
    }
  } finally {
    await kaggle.close();
  }
  console.log(`| stage | wall s | images/s | peak RSS MiB | S3 requests | objects written |`);
  console.log(`|---|---|---|---|---|---|`);
  for (const r of rows) {
    const total = Object.values(r.requests).reduce((a, b) => a + b, 0);
    console.log(`| ${r.stage} | ${r.seconds.toFixed(1)} | ${(images / r.seconds).toFixed(0)} | ${r.peakRssMiB} | ${total} (${Object.entries(r.requests).map(([k, v]) => `${k.replace(/Command$/, '')} ${v}`).join(', ')}) | ${r.objectsWritten} |`);
  }
  console.log(JSON.stringify({ bench: 'celeba-scale', images, identities, archiveBytes: built.bytes, cores: os.cpus().length, stages: rows.map(({ result: _r, ...rest }) => rest) }));
});
