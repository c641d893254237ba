/** Where a batch verification job keeps its objects: `jobs/<job>/...`. */
import { badInput } from '../errors';

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkJobId(jobId: string): string {
  if (typeof jobId !== 'string' || !JOB_ID.test(jobId)) {
    throw badInput(`job id ${JSON.stringify(jobId)} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return jobId;
}

export const jobPrefix = (jobId: string) => `jobs/${checkJobId(jobId)}/`;
export const jobJsonKey = (jobId: string) => `${jobPrefix(jobId)}job.json`;
/** Zero-padded so that listing order is chunk order. */
export const chunkKey = (jobId: string, chunkIndex: number) => `${jobPrefix(jobId)}chunks/${String(chunkIndex).padStart(8, '0')}.jsonl`;
export const embeddingsPrefix = (jobId: string) => `${jobPrefix(jobId)}embeddings/`;
export const resultsKey = (jobId: string) => `${jobPrefix(jobId)}results.jsonl`;
export const summaryKey = (jobId: string) => `${jobPrefix(jobId)}summary.json`;
/** Where the CLI uploads a local input file. */
export const uploadedInputKey = (jobId: string, ext: 'csv' | 'jsonl') => `${jobPrefix(jobId)}input.${ext}`;
