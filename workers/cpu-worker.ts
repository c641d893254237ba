/** CPU worker: workflows plus the data, evaluation, promotion and verification activities (queue siamface-cpu). */
import { cpuActivities } from '../activities';
import { TASK_QUEUES } from '../lib/config';
import { objectStoreFromEnv } from '../lib/storage/object-store';
import { activityDeps } from '../activities/support';
import { createSiamfaceWorker, runWorker } from './worker-options';

export function main(): Promise<void> {
  return runWorker('cpu-worker', async () => {
    const store = objectStoreFromEnv();
    await store.ensureBucket();
    return createSiamfaceWorker({
      // SIAMFACE_CPU_TASK_QUEUE: dedicated queues (tests run their own worker processes).
      taskQueue: process.env.SIAMFACE_CPU_TASK_QUEUE || TASK_QUEUES.cpu,
      activities: cpuActivities(activityDeps(store)),
      withWorkflows: true,
      maxConcurrentActivities: Number(process.env.SIAMFACE_CPU_CONCURRENCY ?? 2),
    });
  });
}

if (require.main === module) void main();
