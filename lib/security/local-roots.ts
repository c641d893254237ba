/**
 * Local paths a workflow input names: allowed only inside the operator's roots for that purpose, checked twice:
 * lexically before touching the file system (so a refused path never reveals whether it exists), then by realpath
 * (so a symlink or `..` cannot lead out of a root).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SiamfaceError, forbidden } from '../errors';
import { POLICY_ENV, type InputPolicy, type LocalPurpose, type LocalRoot } from './input-policy';

const ROOTS_SETTING: Record<LocalPurpose, string> = { dataset: POLICY_ENV.datasetRoots, image: POLICY_ENV.imageRoots };

const within = (p: string, root: string) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

function refuse(what: string, shown: string, purpose: LocalPurpose, why: string): SiamfaceError {
  return forbidden(`${what} ${shown} is refused: ${why}; workers read local ${purpose === 'dataset' ? 'dataset sources' : 'images'} only under the folders the operator lists in ${ROOTS_SETTING[purpose]}`, { rule: ROOTS_SETTING[purpose] });
}

/** Throws 'forbidden' unless `input` lies inside a root; returns its realpath. Missing files inside a root: not_found. */
export async function allowedLocalPath(policy: InputPolicy, purpose: LocalPurpose, input: string, what: string): Promise<string> {
  const roots: LocalRoot[] = policy.localRoots[purpose];
  const abs = path.resolve(input);
  if (!roots.some((r) => within(abs, r.given) || within(abs, r.real))) {
    throw refuse(what, input, purpose, roots.length ? 'the path is outside the allowed local folders' : 'no local folders are allowed');
  }
  let real: string;
  try {
    real = await fs.promises.realpath(abs);
  } catch {
    // A dangling symlink is refused like one that leads out: its target is not for the input to probe.
    const isLink = await fs.promises.lstat(abs).then((s) => s.isSymbolicLink(), () => false);
    if (isLink) throw refuse(what, input, purpose, 'it is a symlink whose target is not inside the allowed local folders');
    throw new SiamfaceError('not_found', `${what} ${input} does not exist`);
  }
  if (!roots.some((r) => within(real, r.real))) throw refuse(what, input, purpose, 'it leads (through a symlink) outside the allowed local folders');
  return real;
}
