/** Which code produced a model: for the model card's lineage. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * SIAMFACE_CODE_VERSION (set by container builds, where there is no .git), else the git commit of
 * the checkout (with "-dirty" when it has uncommitted changes), else `package@version`.
 */
export function codeVersion(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SIAMFACE_CODE_VERSION) return env.SIAMFACE_CODE_VERSION;
  const root = findPackageRoot(__dirname);
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    if (/^[0-9a-f]{40}$/.test(sha)) return dirty ? `${sha}-dirty` : sha;
  } catch {
    // No git or not a checkout: fall through to the package version.
  }
  const pkg = packageInfo();
  return pkg ? `${pkg.name}@${pkg.version}` : 'unknown';
}

/** This checkout's package name and version (package.json), or null when it cannot be read. */
export function packageInfo(): { name: string; version: string } | null {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(findPackageRoot(__dirname), 'package.json'), 'utf8')) as { name?: string; version?: string };
    return { name: pkg.name ?? 'siamface', version: pkg.version ?? '0.0.0' };
  } catch {
    return null;
  }
}

function findPackageRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return start;
    dir = up;
  }
  return dir;
}
