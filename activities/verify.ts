/** Verification activities (CPU queue): one pair, and the three steps of a batch job. Models load once per worker process. */
import { sharedModelCache } from '../lib/verify/model-cache';
import { verifyPair, type VerifyPairInput } from '../lib/verify/verify-pair';
import { prepareBatchJob } from '../lib/verify/batch-prepare';
import { verifyChunk } from '../lib/verify/batch-chunk';
import { finalizeBatchJob } from '../lib/verify/batch-finalize';
import type { BatchSummary, ChunkSummary, FinalizeBatchJobInput, PrepareBatchJobInput, PreparedBatchJob, VerifyChunkInput } from '../lib/verify/batch-types';
import type { ImageInput, VerifyResult } from '../lib/verify/types';
import { redactSecrets } from '../lib/redact';
import { runStage, type ActivityDeps } from './support';

/** Activity input: images as locations (local path on the worker, s3://, http(s)://) or base64 bytes. */
export interface VerifyPairActivityInput extends Omit<VerifyPairInput, 'a' | 'b'> {
  a: string | { base64: string };
  b: string | { base64: string };
}

const toImage = (x: string | { base64: string }): ImageInput => (typeof x === 'string' ? x : Buffer.from(x.base64, 'base64'));

export function verifyActivities(deps: ActivityDeps) {
  const models = () => sharedModelCache(deps.store, { log: (m, f) => console.log(redactSecrets(JSON.stringify({ msg: m, ...f }))) });
  return {
    async verifyPair(input: VerifyPairActivityInput): Promise<VerifyResult> {
      return runStage('verifyPair', () => verifyPair({ ...input, a: toImage(input.a), b: toImage(input.b) }, { models: models(), store: deps.store, policy: deps.policy }));
    },
    async prepareBatchJob(input: PrepareBatchJobInput): Promise<PreparedBatchJob> {
      return runStage('prepareBatchJob', (ctx) => prepareBatchJob(deps.store, models(), input, ctx, deps.policy));
    },
    async verifyChunk(input: VerifyChunkInput): Promise<ChunkSummary> {
      return runStage('verifyChunk', (ctx) => {
        ctx.report({ jobId: input.jobId, chunkIndex: input.chunkIndex, state: 'started' });
        return verifyChunk(deps.store, models(), input, ctx, deps.policy);
      });
    },
    async finalizeBatchJob(input: FinalizeBatchJobInput): Promise<BatchSummary> {
      return runStage('finalizeBatchJob', (ctx) => finalizeBatchJob(deps.store, input, ctx, deps.policy));
    },
  };
}
