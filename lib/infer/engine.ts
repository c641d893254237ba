/**
 * Embedding engines: the same preprocessed NHWC float32 batch in, one embedding per image out,
 * from either onnxruntime (the fast path for serving: 6-12x the tfjs wasm backend on CPU) or a
 * tfjs LayersModel (the reference, and the fallback when no ONNX file exists).
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { badInput } from '../errors';

export interface EmbeddingEngine {
  readonly kind: 'onnx' | 'tfjs';
  /** Square input side the model expects (images are [side, side, 3]). */
  readonly inputSize: number;
  /**
   * Embeds n images. `batch` holds n * inputSize * inputSize * 3 floats, NHWC, already
   * preprocessed (lib/model/preprocess). Returns n vectors.
   */
  embed(batch: Float32Array, n: number): Promise<Float32Array[]>;
  /** One line for logs: engine, provider, threads. */
  describe(): string;
  dispose(): Promise<void>;
}

/** Set to 1 on GPU workers to try onnxruntime's CUDA execution provider first. */
export const ORT_CUDA_ENV = 'SIAMFACE_ORT_CUDA';
/** Intra-op threads for onnxruntime (default: ORT's own choice, all cores). */
export const ORT_THREADS_ENV = 'SIAMFACE_ORT_THREADS';

export interface OnnxEngineOptions {
  /** Intra-op threads; default from SIAMFACE_ORT_THREADS, else onnxruntime's default. */
  threads?: number;
  /** Try the CUDA execution provider; default: SIAMFACE_ORT_CUDA=1. Falls back to CPU with a log line. */
  cuda?: boolean;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  env?: NodeJS.ProcessEnv;
}

function checkBatch(batch: Float32Array, n: number, inputSize: number): void {
  const per = inputSize * inputSize * 3;
  if (!Number.isInteger(n) || n < 1) throw badInput(`embed: n must be a positive integer, got ${n}`);
  if (batch.length !== n * per) throw badInput(`embed: batch has ${batch.length} floats, expected ${n} x ${inputSize}x${inputSize}x3 = ${n * per}`);
}

function split(flat: Float32Array | ArrayLike<number>, n: number): Float32Array[] {
  const dim = flat.length / n;
  return Array.from({ length: n }, (_, i) => Float32Array.from({ length: dim }, (_, j) => flat[i * dim + j]));
}

export class OnnxEngine implements EmbeddingEngine {
  readonly kind = 'onnx' as const;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputSize: number,
    private readonly provider: string,
    private readonly threads: number | undefined,
  ) {}

  /** Opens an ONNX model (bytes or a file path) exported by lib/infer/onnx-export. */
  static async create(model: Uint8Array | string, options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const env = options.env ?? process.env;
    const log = options.log ?? ((message, fields) => console.log(JSON.stringify({ msg: message, ...fields })));
    const threads = options.threads ?? (env[ORT_THREADS_ENV] ? Number(env[ORT_THREADS_ENV]) : undefined);
    if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw badInput(`onnxruntime threads must be a positive integer, got ${threads} (${ORT_THREADS_ENV}?)`);
    const cuda = options.cuda ?? env[ORT_CUDA_ENV] === '1';
    const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}) };
    const open = (opts: ort.InferenceSession.SessionOptions) =>
      typeof model === 'string' ? ort.InferenceSession.create(model, opts) : ort.InferenceSession.create(model, opts);
    let session: ort.InferenceSession | undefined;
    let provider = 'cpu';
    if (cuda) {
      try {
        session = await open({ ...base, executionProviders: ['cuda', 'cpu'] });
        provider = 'cuda';
      } catch (err) {
        log('onnxruntime CUDA execution provider unavailable; using CPU', { error: (err as Error).message.split('\n')[0] });
      }
    }
    session ??= await open({ ...base, executionProviders: ['cpu'] });
    const inputSize = await onnxInputSize(session);
    return new OnnxEngine(session, inputSize, provider, threads);
  }

  async embed(batch: Float32Array, n: number): Promise<Float32Array[]> {
    checkBatch(batch, n, this.inputSize);
    const input = new ort.Tensor('float32', batch, [n, this.inputSize, this.inputSize, 3]);
    const result = await this.session.run({ [this.session.inputNames[0]]: input });
    const out = result[this.session.outputNames[0]];
    try {
      return split(out.data as Float32Array, n);
    } finally {
      out.dispose();
    }
  }

  describe(): string {
    return `onnxruntime ${ort.env.versions.common} (${this.provider}${this.threads ? `, ${this.threads} thread${this.threads === 1 ? '' : 's'}` : ''})`;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** The square input side from the session's input metadata ([N, S, S, 3]). */
async function onnxInputSize(session: ort.InferenceSession): Promise<number> {
  const meta = session.inputMetadata?.[0] as { isTensor?: boolean; shape?: Array<number | string> } | undefined;
  const shape = meta?.shape;
  if (!shape || shape.length !== 4 || typeof shape[1] !== 'number' || shape[1] !== shape[2] || shape[3] !== 3) {
    throw badInput(`ONNX model input must be [N, S, S, 3] (NHWC RGB), got [${shape?.join(', ') ?? 'unknown'}]`);
  }
  return shape[1];
}

export class TfjsEngine implements EmbeddingEngine {
  readonly kind = 'tfjs' as const;
  readonly inputSize: number;

  constructor(private readonly model: tf.LayersModel) {
    const shape = model.inputs[0]?.shape;
    if (!shape || shape.length !== 4 || shape[1] !== shape[2] || shape[3] !== 3 || typeof shape[1] !== 'number') {
      throw badInput(`tfjs model '${model.name}' input must be [N, S, S, 3], got [${shape?.join(', ')}]`);
    }
    this.inputSize = shape[1];
  }

  async embed(batch: Float32Array, n: number): Promise<Float32Array[]> {
    checkBatch(batch, n, this.inputSize);
    const out = tf.tidy(() => this.model.predict(tf.tensor4d(batch, [n, this.inputSize, this.inputSize, 3])) as tf.Tensor);
    try {
      return split(await out.data<'float32'>(), n);
    } finally {
      out.dispose();
    }
  }

  describe(): string {
    return `tfjs ${tf.version.tfjs} (${tf.getBackend()} backend)`;
  }

  async dispose(): Promise<void> {
    // The model belongs to the caller (it may still train or save it).
  }
}
