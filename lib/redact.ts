/**
 * The one redaction: every message, log line, report, history payload and stored location passes through it.
 * It strips URL userinfo and query strings (signed URLs) and replaces every credential the worker holds: the
 * environment's secrets and any read from files at run time (a Kaggle key from kaggle.json), registered here.
 * Pure code without Node imports, so the workflow sandbox's failure converter can use it too.
 */

/** Environment variables whose values are credentials. */
export const SECRET_ENV_NAMES = [
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'MINIO_ROOT_PASSWORD',
  'SIAMFACE_S3_SECRET_KEY',
  'SIAMFACE_WORKER_S3_SECRET_KEY',
  'KAGGLE_KEY',
  'TEMPORAL_TLS_KEY_DATA',
] as const;

/** Shorter values are not treated as secrets: replacing them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 6;

const registered = new Set<string>();

/** Adds a credential read at run time (e.g. from kaggle.json) to what every redaction replaces. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) registered.add(value);
}

/** Every value that must never be printed or stored. */
export function secretValues(env: Record<string, string | undefined> | undefined = typeof process !== 'undefined' ? process.env : undefined): string[] {
  const fromEnv = SECRET_ENV_NAMES.map((n) => env?.[n]).filter((v): v is string => !!v && v.length >= MIN_SECRET_LENGTH);
  // Longest first, so a secret that contains another is replaced whole.
  return [...new Set([...fromEnv, ...registered])].sort((a, b) => b.length - a.length);
}

/** Drops credentials and query strings (signed URLs) from one URL. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    const hadQuery = u.search !== '';
    u.search = '';
    u.hash = '';
    return hadQuery ? `${u.toString()}?<redacted>` : u.toString();
  } catch {
    return '<invalid url>';
  }
}

// scheme://[userinfo@]rest[?query] inside free text; stops at whitespace and quotes.
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@'"<>]*@)?([^\s?#'"<>]*)(\?[^\s#'"<>]*)?/gi;

/** Redacts URLs (userinfo, query strings) and every known secret value in a piece of text. */
export function redactSecrets(text: string, secrets: string[] = secretValues()): string {
  let out = text.replace(URL_IN_TEXT, (_m, scheme: string, _user: string | undefined, rest: string, query: string | undefined) => {
    const q = query && query !== '?<redacted>' && query.length > 1 ? '?<redacted>' : (query ?? '');
    return `${scheme}${rest}${q}`;
  });
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/** Redacts every string inside a JSON-like value (for log fields, failure details, stored reports). */
export function redactDeep<T>(value: T, secrets: string[] = secretValues()): T {
  if (typeof value === 'string') return redactSecrets(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, secrets)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, secrets);
    return out as T;
  }
  return value;
}
