/**
 * Kaggle's public API dataset download: `GET {api}/datasets/download/{owner}/{dataset}` with HTTP basic auth,
 * answered by a redirect to a signed storage URL. Credentials come from KAGGLE_USERNAME/KAGGLE_KEY or
 * ~/.kaggle/kaggle.json and never leave this module (not in messages, logs, results or S3).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SiamfaceError } from '../errors';
import { registerSecret } from '../redact';
import { downloadToFile } from '../storage/download';
import type { InputPolicy } from '../security/input-policy';

export interface KaggleCredentials {
  username: string;
  key: string;
}

export function readKaggleCredentials(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): KaggleCredentials {
  if (env.KAGGLE_USERNAME && env.KAGGLE_KEY) return remembered({ username: env.KAGGLE_USERNAME, key: env.KAGGLE_KEY });
  const configDir = env.KAGGLE_CONFIG_DIR ?? path.join(home, '.kaggle');
  const file = path.join(configDir, 'kaggle.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new SiamfaceError('bad_credentials', `no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY, or create ${file} (Kaggle > Settings > API > Create New Token)`);
  }
  let parsed: { username?: unknown; key?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SiamfaceError('bad_credentials', `${file} is not valid JSON: expected {"username": ..., "key": ...}`);
  }
  if (typeof parsed.username !== 'string' || typeof parsed.key !== 'string' || !parsed.username || !parsed.key) {
    throw new SiamfaceError('bad_credentials', `${file} must hold {"username": ..., "key": ...}`);
  }
  return remembered({ username: parsed.username, key: parsed.key });
}

/** Every redaction replaces the key and the Authorization value built from it, wherever they were read from. */
function remembered(c: KaggleCredentials): KaggleCredentials {
  registerSecret(c.key);
  registerSecret(basicAuth(c));
  return c;
}

const basicAuth = (c: KaggleCredentials) => Buffer.from(`${c.username}:${c.key}`).toString('base64');

export function kaggleDownloadUrl(apiBaseUrl: string, dataset: string): string {
  return `${apiBaseUrl.replace(/\/+$/, '')}/datasets/download/${dataset}`;
}

/** The documented outcome of each Kaggle answer; messages never include the key. */
export function kaggleHttpError(status: number, dataset: string, username: string): SiamfaceError {
  if (status === 401) {
    return new SiamfaceError('bad_credentials', `Kaggle refused the credentials of user '${username}' (401) downloading ${dataset}: check KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json`);
  }
  if (status === 403) {
    return new SiamfaceError('bad_credentials', `Kaggle denied user '${username}' access to ${dataset} (403): sign in on kaggle.com and accept the dataset's terms, then check the credentials`);
  }
  if (status === 404) return new SiamfaceError('not_found', `Kaggle dataset ${dataset} does not exist (404): check source.dataset`);
  if (status === 429 || status >= 500) return new SiamfaceError('transient', `Kaggle answered ${status} downloading ${dataset}; will retry`, { permanent: false });
  return new SiamfaceError('bad_input', `Kaggle answered ${status} downloading ${dataset}`);
}

/**
 * Streams the dataset archive to `destFile` (a finished download is reused by a retry: see downloadToFile).
 * Reports bytes as they arrive.
 */
export async function downloadKaggleDataset(
  opts: { apiBaseUrl: string; policy: InputPolicy; dataset: string; credentials: KaggleCredentials; destFile: string; signal?: AbortSignal; onBytes?: (bytes: number, total?: number) => void },
): Promise<{ bytes: number; reused: boolean }> {
  const { destFile, credentials, dataset } = opts;
  try {
    const st = await fs.promises.stat(destFile);
    return { bytes: st.size, reused: true };
  } catch {
    /* not downloaded yet */
  }
  const url = kaggleDownloadUrl(opts.apiBaseUrl, dataset);
  // The endpoint comes from the worker's policy (https, kaggle.com); the key goes to that origin only, never
  // to the storage URL it redirects to.
  const { bytes } = await downloadToFile(url, destFile, {
    policy: opts.policy,
    what: `Kaggle dataset ${dataset}`,
    headers: { authorization: `Basic ${basicAuth(credentials)}` },
    signal: opts.signal,
    httpError: (status) => kaggleHttpError(status, dataset, credentials.username),
    label: `${dataset} from Kaggle`,
    onBytes: opts.onBytes,
    brokenOff: (err, bytes) => new SiamfaceError('transient', `download of ${dataset} from Kaggle broke off after ${bytes} bytes: ${err.message}`, { cause: err, permanent: false }),
  });
  return { bytes, reused: false };
}
