/**
 * Registered models loaded for serving, once per process and cached by name + version. The production
 * alias is re-read at most every `productionTtlMs` (a cheap GET), so a promotion or rollback is picked
 * up by running workers without a restart. Engine: onnxruntime when the version has a ready ONNX
 * export, else tfjs (the fallback; always possible, since every version keeps its tfjs files).
 */
import * as tf from '@tensorflow/tfjs';
import { LRUCache } from 'lru-cache';
import type { ObjectStore } from '../storage/object-store';
import { badInput, notFound, SiamfaceError } from '../errors';
import { loadModelFromStore } from '../model/io';
import { ensureBackend } from '../model/backend';
import { OnnxEngine, TfjsEngine, type EmbeddingEngine } from '../infer/engine';
import { listModelNames, readModelCard } from '../registry/versions';
import { readProduction } from '../registry/production';
import { checkModelName, MODELS_PREFIX, productionKey, versionPrefix } from '../registry/keys';
import { onnxKey, readOnnxRecord } from '../registry/onnx-artifact';
import type { ModelCard } from '../registry/model-card';
import { imagePrepOf, type ImagePrep } from './detection-policy';
import type { ModelRef } from './types';

export const ENGINE_PREFERENCES = ['auto', 'onnx', 'tfjs'] as const;
export type EnginePreference = (typeof ENGINE_PREFERENCES)[number];

export interface ServingModel {
  name: string;
  version: number;
  card: ModelCard;
  engine: EmbeddingEngine;
  /** How inputs are prepared for it (input size, dataset image size, crop geometry, normalisation), from its card. */
  prep: ImagePrep;
}

export interface ModelCacheOptions {
  /** How long a read of production.json stays fresh (default 10 s). */
  productionTtlMs?: number;
  /** 'auto': ONNX when exported, else tfjs. Unset: SIAMFACE_VERIFY_ENGINE, else 'auto' (a flag beats the environment). */
  engine?: EnginePreference;
  /** Versions kept loaded at once (default 4); the least recently used beyond that are released. */
  maxModels?: number;
  /**
   * Model name used when a request names none: this, else SIAMFACE_MODEL_NAME. Unset both, 'siamface' when it has a
   * production version, else the only model that has one (with several, the error lists them).
   */
  defaultName?: string;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

export const DEFAULT_MODEL_NAME = 'siamface';

export class ModelCache {
  private readonly models: LRUCache<string, Promise<ServingModel>>;
  /** Production versions by model name, fresh for productionTtlMs (a stale one is still read, to log a change). */
  private readonly productions: LRUCache<string, number>;
  private chosenDefault: { name: string; readAt: number } | undefined;
  private readonly opts: Required<Omit<ModelCacheOptions, 'log' | 'now' | 'defaultName'>> & Pick<ModelCacheOptions, 'log' | 'defaultName'> & { now: () => number };

  constructor(
    private readonly store: ObjectStore,
    options: ModelCacheOptions = {},
  ) {
    const envEngine = (process.env.SIAMFACE_VERIFY_ENGINE || undefined) as EnginePreference | undefined;
    const engine = options.engine ?? envEngine ?? 'auto';
    if (!ENGINE_PREFERENCES.includes(engine)) {
      // Name where the bad value came from (the CLI refuses a bad --engine itself, naming the flag).
      const source = options.engine !== undefined ? 'the engine option' : 'SIAMFACE_VERIFY_ENGINE';
      throw badInput(`engine must be 'auto', 'onnx' or 'tfjs', got ${JSON.stringify(engine)} from ${source}`);
    }
    this.opts = {
      productionTtlMs: options.productionTtlMs ?? 10_000,
      engine,
      maxModels: options.maxModels ?? 4,
      defaultName: options.defaultName ?? (process.env.SIAMFACE_MODEL_NAME || undefined),
      log: options.log,
      now: options.now ?? Date.now,
    };
    if (!Number.isInteger(this.opts.maxModels) || this.opts.maxModels < 1) throw badInput(`maxModels must be a positive integer, got ${this.opts.maxModels}`);
    // On the injected clock, read on every call (ttlResolution 0), so tests can move time; lru-cache's ttl must be >= 1 ms.
    this.productions = new LRUCache({ max: 1000, ttl: Math.max(1, Math.ceil(this.opts.productionTtlMs)), ttlResolution: 0, perf: { now: this.opts.now } });
    this.models = new LRUCache({
      max: this.opts.maxModels,
      // An evicted model may still serve in-flight requests: release its native memory a while later.
      dispose: (entry, _key, reason) => {
        if (reason === 'evict') entry.then((m) => setTimeout(() => void releaseModel(m), 60_000).unref()).catch(() => undefined);
      },
    });
  }

  /** The model a request that names none gets (see ModelCacheOptions.defaultName). */
  async defaultName(): Promise<string> {
    if (this.opts.defaultName) return this.opts.defaultName;
    const now = this.opts.now();
    if (this.chosenDefault && now - this.chosenDefault.readAt < this.opts.productionTtlMs) return this.chosenDefault.name;
    let name = DEFAULT_MODEL_NAME;
    if (!(await readProduction(this.store, DEFAULT_MODEL_NAME))) {
      const withProduction: string[] = [];
      for (const n of await listModelNames(this.store)) if (await readProduction(this.store, n)) withProduction.push(n);
      if (withProduction.length !== 1) {
        throw notFound(
          withProduction.length
            ? `no model named and '${DEFAULT_MODEL_NAME}' has no production version, but several models do (${withProduction.join(', ')}): name one (--model, SIAMFACE_MODEL_NAME)`
            : `no model has a production version in ${this.store.uri(MODELS_PREFIX)}: train one (npm run main) or promote a version (siamface models promote)`,
          { modelsInProduction: withProduction },
        );
      }
      name = withProduction[0];
    }
    this.chosenDefault = { name, readAt: now };
    return name;
  }

  /** The production version of `name` (cached for productionTtlMs). */
  async production(name: string): Promise<number> {
    checkModelName(name);
    const status: LRUCache.Status<string, number> = {};
    const cached = this.productions.get(name, { allowStale: true, status });
    if (cached !== undefined && status.get === 'hit') return cached;
    const state = await readProduction(this.store, name);
    if (!state) throw notFound(`model ${name} has no production version (${this.store.uri(productionKey(name))} does not exist); promote one or give a version`);
    if (cached !== undefined && cached !== state.alias.version) this.opts.log?.('production model changed', { name, from: cached, to: state.alias.version });
    this.productions.set(name, state.alias.version);
    return state.alias.version;
  }

  /** Resolves a reference to a concrete version (production when none is given). */
  async resolve(ref?: Partial<ModelRef>): Promise<{ name: string; version: number }> {
    const name = ref?.name ?? (await this.defaultName());
    const version = ref?.version ?? (await this.production(name));
    return { name, version };
  }

  /** The loaded model for a reference; loads it on first use (concurrent callers share one load). */
  async get(ref?: Partial<ModelRef>): Promise<ServingModel> {
    const { name, version } = await this.resolve(ref);
    const key = `${name}@${version}`;
    const cached = this.models.get(key);
    if (cached) return cached;
    const loading = this.load(name, version);
    this.models.set(key, loading);
    // A failed load is forgotten (unless already replaced), so the next request tries again.
    loading.catch(() => this.models.peek(key) === loading && this.models.delete(key));
    return loading;
  }

  private async load(name: string, version: number): Promise<ServingModel> {
    const started = this.opts.now();
    const card = await readModelCard(this.store, name, version);
    if (card.status !== 'ready') throw new SiamfaceError('bad_input', `model ${name} version ${version} is still being published (status ${card.status})`);
    const engine = await this.loadEngine(name, version);
    const size = typeof card.model.inputSize === 'number' ? card.model.inputSize : card.model.inputSize[0];
    if (engine.inputSize !== size) throw badInput(`model ${name} v${version}: the card says input ${size} px, the model takes ${engine.inputSize} px`);
    this.opts.log?.('model loaded for verification', { name, version, engine: engine.describe(), ms: this.opts.now() - started });
    return { name, version, card, engine, prep: imagePrepOf(card, engine.inputSize) };
  }

  private async loadEngine(name: string, version: number): Promise<EmbeddingEngine> {
    const pref = this.opts.engine;
    if (pref !== 'tfjs') {
      const record = await readOnnxRecord(this.store, name, version);
      if (record?.status === 'ready') return OnnxEngine.create(await this.store.getBuffer(onnxKey(name, version)), { log: this.opts.log });
      if (pref === 'onnx') throw notFound(`model ${name} v${version} has no ONNX export${record ? ` (export failed: ${record.reason})` : ''}`);
    }
    await ensureBackend({ log: this.opts.log });
    return new OwnedTfjsEngine(await loadModelFromStore(this.store, versionPrefix(name, version)));
  }

  /** Releases every loaded model. */
  async dispose(): Promise<void> {
    const all = [...this.models.values()];
    this.models.clear();
    for (const m of await Promise.allSettled(all)) if (m.status === 'fulfilled') await releaseModel(m.value);
  }
}

/** A TfjsEngine that owns its model (the cache loaded it), so disposing it frees the weights. */
class OwnedTfjsEngine extends TfjsEngine {
  constructor(private readonly owned: tf.LayersModel) {
    super(owned);
  }

  override async dispose(): Promise<void> {
    this.owned.dispose();
  }
}

async function releaseModel(m: ServingModel): Promise<void> {
  await m.engine.dispose().catch(() => undefined);
}

const shared = new Map<string, ModelCache>();

/** The process-wide cache of a bucket's models (workers and the CLI share one per bucket). */
export function sharedModelCache(store: ObjectStore, options?: ModelCacheOptions): ModelCache {
  const key = store.uri('');
  let cache = shared.get(key);
  if (!cache) shared.set(key, (cache = new ModelCache(store, options)));
  return cache;
}
