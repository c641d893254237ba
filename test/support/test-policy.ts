/**
 * The input policy of the test stack, set explicitly: workers (in-process and child processes, which inherit the
 * environment) may read exactly the shared face sets, the folders tests copy subsets into, and loopback HTTP servers
 * (plain http, 127.0.0.1 only). Everything else keeps the defaults the workers ship with.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SHARED_DATA } from './shared-data';

/** Where tests put the dataset folders and images they make; the only writable local root the policy allows. */
export const TEST_INPUTS_ROOT = path.join(os.tmpdir(), 'siamface-test-inputs');

/** A function, not a constant: shared-data.ts imports this module too. */
export function testPolicyEnv(): Record<string, string> {
  return {
    SIAMFACE_DATASET_ROOTS: [SHARED_DATA, TEST_INPUTS_ROOT].join(path.delimiter),
    SIAMFACE_IMAGE_ROOTS: [SHARED_DATA, TEST_INPUTS_ROOT].join(path.delimiter),
    SIAMFACE_URL_ALLOW_HTTP: 'true',
    SIAMFACE_URL_ALLOW_PRIVATE: '127.0.0.1/32',
  };
}

export function applyTestInputPolicy(env: NodeJS.ProcessEnv = process.env): void {
  fs.mkdirSync(TEST_INPUTS_ROOT, { recursive: true });
  Object.assign(env, testPolicyEnv());
}

/** A fresh folder inside the allowed test inputs root. */
export function testInputDir(tag: string): string {
  fs.mkdirSync(TEST_INPUTS_ROOT, { recursive: true });
  return fs.mkdtempSync(path.join(TEST_INPUTS_ROOT, `${tag}-`));
}
