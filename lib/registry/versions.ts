/**
 * Model versions: `models/<name>/versions/<v>/` holds a copy of the run's model files and the model card.
 * Version numbers are claimed with a conditional create of the card (If-None-Match '*'), so concurrent
 * publishers never share a number: the loser of a race simply tries the next one.
 */
import type { ObjectStore } from '../storage/object-store';
import { SiamfaceError, notFound } from '../errors';
import { checkRunId, modelPrefix as runModelPrefix } from '../train/run-layout';
import type { RunContext } from '../progress';
import { throwIfAborted } from '../progress';
import type { EvalReport } from '../eval/types';
import { evalReportKey } from '../eval/report-store';
import { codeVersion as currentCodeVersion } from './code-version';
import { evaluationSummary, type ModelCard, type ModelDescription, type ModelFile } from './model-card';
import { MODELS_PREFIX, modelCardKey, modelPrefix, versionOfCardKey, versionPrefix, versionsPrefix, checkModelName } from './keys';

export type RegistryStore = Pick<ObjectStore, 'list' | 'listAll' | 'getJson' | 'getJsonIfExists' | 'putJson' | 'getStream' | 'upload' | 'head'>;

export interface PublishInput {
  name: string;
  runId: string;
  /** The run's evaluation report (runs/<run>/eval/report.json). */
  report: EvalReport;
  model: ModelDescription;
  /** Defaults to the report's lineage. */
  dataset?: { id: string; manifestChecksum?: string };
  training: { configId?: string; config: Record<string, unknown> };
  codeVersion?: string;
  now?: () => Date;
  /** How many version numbers to try when others claim them concurrently (default 20). */
  maxClaimAttempts?: number;
}

export interface PublishResult {
  card: ModelCard;
  /** False when this run was already published as `card.version` (publishing is idempotent per run). */
  created: boolean;
}

/** Version numbers of a model, ascending (from the card keys; a claimed but unfinished version counts). */
export async function listVersionNumbers(store: Pick<ObjectStore, 'list'>, name: string): Promise<number[]> {
  const versions: number[] = [];
  for await (const o of store.list(versionsPrefix(name))) {
    const v = versionOfCardKey(name, o.key);
    if (v !== undefined) versions.push(v);
  }
  return versions.sort((a, b) => a - b);
}

export async function readModelCard(store: Pick<ObjectStore, 'getJson'>, name: string, version: number): Promise<ModelCard> {
  try {
    return await store.getJson<ModelCard>(modelCardKey(name, version));
  } catch (err) {
    if (err instanceof SiamfaceError && err.code === 'not_found') throw notFound(`model ${name} has no version ${version} (${modelCardKey(name, version)} does not exist)`);
    throw err;
  }
}

export async function listModelCards(store: Pick<ObjectStore, 'list' | 'getJson'>, name: string): Promise<ModelCard[]> {
  const versions = await listVersionNumbers(store, name);
  return Promise.all(versions.map((v) => readModelCard(store, name, v)));
}

/** Names of all registered models (those with at least one version or a production alias). */
export async function listModelNames(store: Pick<ObjectStore, 'list'>): Promise<string[]> {
  const names = new Set<string>();
  for await (const o of store.list(MODELS_PREFIX)) {
    const name = o.key.slice(MODELS_PREFIX.length).split('/')[0];
    if (name) names.add(name);
  }
  return [...names].sort();
}

/**
 * Registers a run's model as the next version of `name`: claims a version number, copies
 * `runs/<run>/model/*` into it, then marks the card 'ready'. Re-publishing the same run returns its
 * existing version (and finishes it if an earlier attempt stopped half-way).
 */
export async function publishModelVersion(store: RegistryStore, input: PublishInput, ctx: RunContext): Promise<PublishResult> {
  const { name, runId } = input;
  checkModelName(name);
  checkRunId(runId);
  const sources = (await store.listAll(runModelPrefix(runId))).filter((o) => !o.key.endsWith('/'));
  if (sources.length === 0) throw notFound(`run ${runId} has no model files under ${runModelPrefix(runId)}; train the model before publishing it`);

  const existing = (await listModelCards(store, name)).find((c) => c.parentRun === runId);
  let version: number;
  let claimEtag: string;
  let card: ModelCard;
  if (existing?.status === 'ready') return { card: existing, created: false };
  if (existing) {
    version = existing.version;
    card = existing;
    claimEtag = (await store.getJsonIfExists<ModelCard>(modelCardKey(name, version)))!.etag;
    ctx.log('resuming an unfinished publish', { name, version, runId });
  } else {
    const files: ModelFile[] = sources.map((o) => ({ path: o.key.slice(runModelPrefix(runId).length), size: o.size }));
    const dataset = input.dataset ?? { id: input.report.lineage.dataset ?? 'unknown', manifestChecksum: input.report.lineage.datasetManifestChecksum };
    const draft: Omit<ModelCard, 'version'> = {
      schemaVersion: 1,
      name,
      status: 'publishing',
      createdAt: (input.now?.() ?? new Date()).toISOString(),
      parentRun: runId,
      codeVersion: input.codeVersion ?? currentCodeVersion(),
      model: { ...input.model, files },
      dataset,
      training: input.training,
      evaluation: evaluationSummary(input.report, evalReportKey(runId)),
    };
    ({ version, etag: claimEtag } = await claimNextVersion(store, name, draft, input.maxClaimAttempts ?? 20, ctx));
    card = { ...draft, version };
  }

  let bytes = 0;
  for (const [i, o] of sources.entries()) {
    throwIfAborted(ctx.signal);
    const relative = o.key.slice(runModelPrefix(runId).length);
    await store.upload(`${versionPrefix(name, version)}${relative}`, await store.getStream(o.key));
    bytes += o.size;
    ctx.report({ stage: 'publish', name, version, files: i + 1, totalFiles: sources.length, bytes });
  }
  const ready: ModelCard = { ...card, status: 'ready' };
  await store.putJson(modelCardKey(name, version), ready, { ifMatch: claimEtag });
  return { card: ready, created: true };
}

async function claimNextVersion(
  store: RegistryStore,
  name: string,
  draft: Omit<ModelCard, 'version'>,
  maxAttempts: number,
  ctx: RunContext,
): Promise<{ version: number; etag: string }> {
  const versions = await listVersionNumbers(store, name);
  let version = (versions[versions.length - 1] ?? 0) + 1;
  for (let attempt = 1; attempt <= maxAttempts; attempt++, version++) {
    try {
      const { etag } = await store.putJson(modelCardKey(name, version), { ...draft, version }, { ifNoneMatch: '*' });
      return { version, etag };
    } catch (err) {
      if (!(err instanceof SiamfaceError && err.code === 'precondition_failed')) throw err;
      ctx.log('version already claimed by another publisher; trying the next', { name, version });
    }
  }
  throw new SiamfaceError('precondition_failed', `could not claim a version of ${modelPrefix(name)} after ${maxAttempts} attempts: other publishers keep taking them`, {
    permanent: false,
  });
}
