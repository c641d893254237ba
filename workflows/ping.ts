/**
 * A tiny end-to-end check of a deployment: a workflow on the CPU queue runs one activity that
 * writes and reads back an object in S3. `siamface doctor` and the foundation tests use it.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities/ping';
import { retryPolicy } from '../lib/pipeline/retry';

// No taskQueue: CPU activities run on the workflow's own queue (siamface-cpu in production).
const { pingStorage } = proxyActivities<ReturnType<typeof activities.pingActivities>>({
  startToCloseTimeout: '1 minute',
  retry: retryPolicy({ maximumAttempts: 3 }),
});

export async function pingWorkflow(input: { message: string }): Promise<{ echoed: string; key: string; bytes: number }> {
  return pingStorage(input);
}
