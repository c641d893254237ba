/**
 * The one S3 client of the project (MinIO locally, AWS S3 or any S3-compatible store in production).
 * Every error names the bucket and key; errors are classified so activities know what to retry.
 */
import { Readable } from 'node:stream';
// The project supports Node 20 (see README); the SDK's advance notice about Node 22 is noise in every log line.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  CreateBucketCommand,
  HeadBucketCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { SiamfaceError, jsonErrorPosition } from '../errors';
import { s3Config, type S3Config } from '../config';
import { formatS3Uri } from './uri';

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified?: Date;
  metadata?: Record<string, string>;
}

export interface PutOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Write only if the current object has this ETag (optimistic concurrency for pointers). */
  ifMatch?: string;
  /** '*' : write only if the object does not exist yet. */
  ifNoneMatch?: '*';
}

/** Multipart parts of 8 MiB, 4 in flight: memory stays bounded whatever the object size. */
const PART_SIZE = 8 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;

export class ObjectStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly config: Readonly<Omit<S3Config, 'secretAccessKey' | 'sessionToken'>>;

  constructor(config: S3Config) {
    this.bucket = config.bucket;
    const { secretAccessKey: _secret, sessionToken: _token, ...publicConfig } = config;
    this.config = publicConfig;
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}) },
      maxAttempts: 3,
    });
  }

  /** The same store, another bucket (tests use one bucket per file). */
  withBucket(bucket: string, config: S3Config): ObjectStore {
    return new ObjectStore({ ...config, bucket });
  }

  uri(key: string): string {
    return formatS3Uri(this.bucket, key);
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      const e = classify(err, this.bucket, '');
      if (e.code !== 'not_found') throw e;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw classify(err, this.bucket, '');
    }
  }

  async putObject(key: string, body: Buffer | Uint8Array | string, opts: PutOptions = {}): Promise<{ etag: string }> {
    const input: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: key,
      Body: body,
      ContentType: opts.contentType,
      Metadata: opts.metadata,
      IfMatch: opts.ifMatch,
      IfNoneMatch: opts.ifNoneMatch,
    };
    try {
      const out = await this.client.send(new PutObjectCommand(input));
      return { etag: out.ETag ?? '' };
    } catch (err) {
      throw classify(err, this.bucket, key);
    }
  }

  /** Streams a body of unknown size; large bodies go up as a multipart upload. */
  async upload(key: string, body: Readable | Buffer, opts: Omit<PutOptions, 'ifMatch' | 'ifNoneMatch'> = {}): Promise<{ etag: string; bytes: number }> {
    let bytes = 0;
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: opts.contentType, Metadata: opts.metadata },
      partSize: PART_SIZE,
      queueSize: UPLOAD_CONCURRENCY,
      leavePartsOnError: false,
    });
    upload.on('httpUploadProgress', (p) => {
      if (p.loaded !== undefined) bytes = p.loaded;
    });
    try {
      const out = await upload.done();
      return { etag: out.ETag ?? '', bytes: Buffer.isBuffer(body) ? body.length : bytes };
    } catch (err) {
      throw classify(err, this.bucket, key);
    }
  }

  /** `ifMatch`: read only that version of the object (an ETag); another one fails with precondition_failed. */
  async getStream(key: string, range?: { start: number; end: number }, opts: { ifMatch?: string } = {}): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range ? `bytes=${range.start}-${range.end}` : undefined, IfMatch: opts.ifMatch }),
      );
      return out.Body as Readable;
    } catch (err) {
      throw classify(err, this.bucket, key);
    }
  }

  async getBuffer(key: string): Promise<Buffer> {
    const stream = await this.getStream(key);
    try {
      return await readAll(stream);
    } catch (err) {
      throw classify(err, this.bucket, key);
    }
  }

  /** Reads `length` bytes at `start` (e.g. one image out of a shard). */
  async getRange(key: string, start: number, length: number, opts: { ifMatch?: string } = {}): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    const stream = await this.getStream(key, { start, end: start + length - 1 }, opts);
    const buf = await readAll(stream);
    if (buf.length !== length) {
      throw new SiamfaceError('transient', `short read of ${this.uri(key)} at ${start}: got ${buf.length} of ${length} bytes`, { permanent: false });
    }
    return buf;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? '', lastModified: out.LastModified, metadata: out.Metadata };
    } catch (err) {
      const e = classify(err, this.bucket, key);
      if (e.code === 'not_found') return null;
      throw e;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      } catch (err) {
        throw classify(err, this.bucket, prefix);
      }
      for (const o of out.Contents ?? []) {
        yield { key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async listAll(prefix: string): Promise<ObjectInfo[]> {
    const all: ObjectInfo[] = [];
    for await (const o of this.list(prefix)) all.push(o);
    return all;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw classify(err, this.bucket, key);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    let n = 0;
    let batch: string[] = [];
    const flush = async () => {
      if (!batch.length) return;
      try {
        await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      } catch (err) {
        throw classify(err, this.bucket, prefix);
      }
      n += batch.length;
      batch = [];
    };
    for await (const o of this.list(prefix)) {
      batch.push(o.key);
      if (batch.length === 1000) await flush();
    }
    await flush();
    return n;
  }

  async getJson<T>(key: string): Promise<T> {
    const buf = await this.getBuffer(key);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (err) {
      throw new SiamfaceError('bad_input', `${this.uri(key)} is not valid JSON${jsonErrorPosition(err)}`);
    }
  }

  async getJsonIfExists<T>(key: string): Promise<{ value: T; etag: string } | null> {
    let out;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      const e = classify(err, this.bucket, key);
      if (e.code === 'not_found') return null;
      throw e;
    }
    const buf = await readAll(out.Body as Readable);
    try {
      return { value: JSON.parse(buf.toString('utf8')) as T, etag: out.ETag ?? '' };
    } catch (err) {
      throw new SiamfaceError('bad_input', `${this.uri(key)} is not valid JSON${jsonErrorPosition(err)}`);
    }
  }

  async putJson(key: string, value: unknown, opts: Omit<PutOptions, 'contentType'> = {}): Promise<{ etag: string }> {
    return this.putObject(key, JSON.stringify(value, null, 2), { ...opts, contentType: 'application/json' });
  }
}

export function objectStoreFromEnv(env: NodeJS.ProcessEnv = process.env): ObjectStore {
  return new ObjectStore(s3Config(env));
}

export async function readAll(stream: Readable | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

const CREDENTIAL_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken']);
/** Temporary credentials that ran out: routine for session tokens, renewed outside the request, so retry (bounded by the activity's policy). */
const EXPIRED_CREDENTIAL_ERRORS = new Set(['ExpiredToken', 'TokenRefreshRequired']);
const NOT_FOUND_ERRORS = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket', 'NoSuchUpload']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

/** Maps an AWS SDK error to a SiamfaceError that names the object and says whether to retry. */
export function classify(err: unknown, bucket: string, key: string): SiamfaceError {
  if (err instanceof SiamfaceError) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const where = key ? formatS3Uri(bucket, key) : `s3://${bucket}`;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? '';
  const netCode = e.code ?? e.cause?.code ?? '';
  if (NOT_FOUND_ERRORS.has(name) || status === 404) {
    const what = name === 'NoSuchBucket' ? `bucket '${bucket}' does not exist` : `${where} does not exist`;
    return new SiamfaceError('not_found', what, { cause: err });
  }
  // 412: the condition was evaluated and is false (callers re-read and decide). 409: another conditional write to
  // the same key was in flight, so the condition was never evaluated: retry the request as it is.
  if (name === 'PreconditionFailed' || status === 412) {
    return new SiamfaceError('precondition_failed', `conditional write to ${where} failed: the object changed or already exists`, { cause: err });
  }
  if (name === 'ConditionalRequestConflict' || status === 409) {
    return new SiamfaceError('transient', `S3 request for ${where} conflicted with a concurrent write (${name || status}): retry`, { cause: err, permanent: false });
  }
  if (EXPIRED_CREDENTIAL_ERRORS.has(name)) {
    return new SiamfaceError('transient', `S3 session credentials for ${where} expired (${name}): retrying; renew the worker's session token if this persists`, { cause: err, permanent: false });
  }
  if (CREDENTIAL_ERRORS.has(name) || status === 403) {
    return new SiamfaceError('bad_credentials', `S3 refused the credentials for ${where} (${name || status}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`, { cause: err });
  }
  if (NETWORK_CODES.has(netCode) || NETWORK_CODES.has(name) || (status !== undefined && status >= 500) || name === 'TimeoutError' || name === 'SlowDown') {
    return new SiamfaceError('transient', `S3 request for ${where} failed (${netCode || name || status}): ${e.message ?? 'no message'}`, { cause: err, permanent: false });
  }
  // Unknown errors: retry rather than lose work; the activity's retry policy bounds it.
  return new SiamfaceError('transient', `S3 request for ${where} failed: ${name || 'error'}: ${e.message ?? String(err)}`, { cause: err, permanent: false });
}
