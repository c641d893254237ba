/**
 * Where `siamface evaluate` keeps its objects: `evaluations/<eval>/` (report.json, report.html, plots) and
 * `evaluations/inputs/` (pairs files uploaded for it); its rows are verified as the batch job `jobs/<eval>/`.
 */
import { checkKeyId } from '../registry/keys';

export const EVALUATIONS_PREFIX = 'evaluations/';
export const evaluationPrefix = (evalId: string) => `${EVALUATIONS_PREFIX}${checkKeyId('evaluation id', evalId)}/`;
/** An uploaded pairs file; `name` says what it is (the CLI names it by content, so the same file resumes the same evaluation). */
export const evaluationInputKey = (name: string, ext: 'csv' | 'jsonl') => `${EVALUATIONS_PREFIX}inputs/${checkKeyId('evaluation input name', name)}.${ext}`;
