/** Where a batch verification job keeps its objects: `jobs/<job>/...`. */
import { checkKeyId } from '../registry/keys';

export const checkJobId = (jobId: string) => checkKeyId('job id', jobId);

export const jobPrefix = (jobId: string) => `jobs/${checkJobId(jobId)}/`;
export const jobJsonKey = (jobId: string) => `${jobPrefix(jobId)}job.json`;
/** Zero-padded so that listing order is chunk order. */
export const chunkKey = (jobId: string, chunkIndex: number) => `${jobPrefix(jobId)}chunks/${String(chunkIndex).padStart(8, '0')}.jsonl`;
export const embeddingsPrefix = (jobId: string) => `${jobPrefix(jobId)}embeddings/`;
export const resultsKey = (jobId: string) => `${jobPrefix(jobId)}results.jsonl`;
export const summaryKey = (jobId: string) => `${jobPrefix(jobId)}summary.json`;
/** Where the CLI uploads a local input file. */
export const uploadedInputKey = (jobId: string, ext: 'csv' | 'jsonl') => `${jobPrefix(jobId)}input.${ext}`;
