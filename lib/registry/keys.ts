/** Where the registry keeps things in the bucket (one place, so every reader and writer agree). */
import { badInput } from '../errors';

/** Names that become one key segment (model, dataset, pipeline run): lower case, so keys and workflow ids stay portable. */
const SAFE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const SAFE_NAME_RULE = "1-63 characters of lower-case letters, digits, '.', '_' or '-', starting with a letter or digit";

export function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && SAFE_NAME.test(name);
}

/** Ids a caller chooses that become one key segment (training run, batch job): letters of either case, up to 128. */
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isKeyId(id: unknown): id is string {
  return typeof id === 'string' && KEY_ID.test(id);
}

/** `id`, or a bad_input error naming `what` ('run id', 'job id', ...) and the rule. */
export function checkKeyId(what: string, id: string): string {
  if (!isKeyId(id)) throw badInput(`${what} ${JSON.stringify(id)} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);
  return id;
}

export function checkModelName(name: string): string {
  if (!isSafeName(name)) throw badInput(`model name ${JSON.stringify(name)} must be ${SAFE_NAME_RULE}`);
  return name;
}

export function checkVersion(version: number): number {
  if (!Number.isInteger(version) || version < 1) throw badInput(`model version must be a positive integer, got ${JSON.stringify(version)}`);
  return version;
}

export const MODELS_PREFIX = 'models/';
export const modelPrefix = (name: string) => `${MODELS_PREFIX}${checkModelName(name)}/`;
export const versionsPrefix = (name: string) => `${modelPrefix(name)}versions/`;
export const versionPrefix = (name: string, version: number) => `${versionsPrefix(name)}${checkVersion(version)}/`;
export const modelCardKey = (name: string, version: number) => `${versionPrefix(name, version)}model-card.json`;
export const productionKey = (name: string) => `${modelPrefix(name)}production.json`;
export const decisionsPrefix = (name: string) => `${modelPrefix(name)}decisions/`;

/** The version number in a key under `models/<name>/versions/<v>/model-card.json`, or undefined. */
export function versionOfCardKey(name: string, key: string): number | undefined {
  const prefix = versionsPrefix(name);
  if (!key.startsWith(prefix) || !key.endsWith('/model-card.json')) return undefined;
  const v = key.slice(prefix.length, -'/model-card.json'.length);
  return /^[1-9][0-9]*$/.test(v) ? Number(v) : undefined;
}
