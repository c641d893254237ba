/**
 * Chooses the fastest TensorFlow.js backend this process can load, in the order
 * tfjs-node-gpu > tfjs-node > wasm > cpu, and says which one it chose and why the faster ones
 * failed. The native packages are optional dependencies: absent on machines without
 * libtensorflow, so every failure to load one is expected and reported, not fatal.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import { registerWasmTrainingKernels } from './wasm-kernels';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];
/** Environment variable that overrides the preference passed in code (e.g. to force wasm on a worker). */
export const BACKEND_ENV = 'SIAMFACE_TF_BACKEND';

type Candidate = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';

export interface BackendAttempt {
  candidate: Candidate;
  error: string;
}

export interface BackendSelection {
  /** tf.getBackend() after selection: 'tensorflow', 'wasm' or 'cpu'. */
  backend: string;
  /** Native libtensorflow (tfjs-node or tfjs-node-gpu). */
  native: boolean;
  /** The CUDA build of libtensorflow was loaded. */
  gpu: boolean;
  /** Candidates tried before the chosen one, in order (absent when the first choice loaded). */
  fellBackFrom?: string[];
  /** Why each earlier candidate failed. */
  attempts: BackendAttempt[];
  preference: BackendPreference;
  /** One human-readable line: what runs and how. */
  detail: string;
}

export interface SelectBackendOptions {
  env?: NodeJS.ProcessEnv;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

const ORDER: Record<BackendPreference, Candidate[]> = {
  auto: ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'],
  tensorflow: ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'],
  wasm: ['wasm', 'cpu'],
  cpu: ['cpu'],
};

function parsePreference(value: string, source: string): BackendPreference {
  const v = value.trim().toLowerCase();
  if ((BACKEND_PREFERENCES as readonly string[]).includes(v)) return v as BackendPreference;
  throw badInput(`${source}: unknown TensorFlow.js backend '${value}' (expected one of ${BACKEND_PREFERENCES.join(', ')})`);
}

/** Folder holding the wasm binaries of the installed tfjs-backend-wasm (no CDN: we may be offline). */
export function wasmBinaryDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep;
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}

async function tryNative(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string> {
  // Loading registers the 'tensorflow' backend on the tfjs-core instance the package resolves.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(pkg);
  if (!tf.findBackendFactory('tensorflow')) {
    throw new Error(`${pkg} loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs (different tfjs-core copy or version?)`);
  }
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg}: tf.setBackend('tensorflow') failed`);
  const version = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding?.TF_Version;
  return `${pkg} (native TensorFlow ${version ?? '(version unknown)'})`;
}

async function tryWasm(): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  const dir = wasmBinaryDir();
  wasm.setWasmPaths(dir);
  if (!(await tf.setBackend('wasm'))) throw new Error(`tf.setBackend('wasm') failed (binaries from ${dir})`);
  await tf.ready();
  const added = registerWasmTrainingKernels();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `wasm (SIMD ${simd ? 'on' : 'off'}, 1 thread: tfjs disables wasm threads in Node; binaries ${dir}; training kernels added: ${added.join(', ') || 'none'})`;
}

async function tryCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error("tf.setBackend('cpu') failed");
  return 'cpu (pure JavaScript; inference only in practice, training is very slow)';
}

/**
 * Selects and activates a backend. `SIAMFACE_TF_BACKEND` (auto|tensorflow|wasm|cpu), when set,
 * overrides `preference`. Asking for 'tensorflow' on a machine without it falls back (reported
 * in `fellBackFrom`) rather than failing, so a misconfigured worker still runs, visibly slower.
 */
export async function selectBackend(preference: BackendPreference = 'auto', opts: SelectBackendOptions = {}): Promise<BackendSelection> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((message, fields) => console.log(JSON.stringify({ msg: message, ...fields })));
  const pref = env[BACKEND_ENV] ? parsePreference(env[BACKEND_ENV], BACKEND_ENV) : parsePreference(preference, 'selectBackend');
  const attempts: BackendAttempt[] = [];
  for (const candidate of ORDER[pref]) {
    try {
      let how: string;
      if (candidate === 'tfjs-node-gpu') how = await tryNative('@tensorflow/tfjs-node-gpu');
      else if (candidate === 'tfjs-node') how = await tryNative('@tensorflow/tfjs-node');
      else if (candidate === 'wasm') how = await tryWasm();
      else how = await tryCpu();
      await tf.ready();
      const selection: BackendSelection = {
        backend: tf.getBackend(),
        native: candidate === 'tfjs-node-gpu' || candidate === 'tfjs-node',
        gpu: candidate === 'tfjs-node-gpu',
        attempts,
        preference: pref,
        detail: how,
      };
      if (attempts.length > 0) selection.fellBackFrom = attempts.map((a) => a.candidate);
      log('tfjs backend selected', {
        backend: selection.backend,
        candidate,
        preference: pref,
        detail: how,
        ...(attempts.length ? { unavailable: attempts.map((a) => `${a.candidate}: ${a.error}`) } : {}),
      });
      return selection;
    } catch (err) {
      attempts.push({ candidate, error: errorText(err) });
    }
  }
  throw new Error(`no TensorFlow.js backend could be loaded: ${attempts.map((a) => `${a.candidate}: ${a.error}`).join('; ')}`);
}

/**
 * Makes sure tfjs has an initialised backend without switching one someone else chose (face detection,
 * serving and evaluation share one tfjs engine with training in a worker process).
 */
export async function ensureBackend(opts: SelectBackendOptions = {}): Promise<void> {
  if (!(tf.engine() as unknown as { backendName?: string | null }).backendName) await selectBackend('auto', opts);
}
