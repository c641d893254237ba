import { secretValues } from './config';

/** Replaces any configured secret value (S3 secret, Kaggle key) in text with '***'. */
export function redactSecrets(text: string, secrets: string[] = secretValues()): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}
