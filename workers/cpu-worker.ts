/** CPU worker: workflows plus the data, evaluation, promotion and verification activities (queue siamface-cpu). */
import { cpuActivities } from '../activities';
import { taskQueueFromEnv } from '../lib/config';
import { objectStoreFromEnv } from '../lib/storage/object-store';
import { defaultDetector } from '../lib/face/detector-setting';
import { activityDeps } from '../activities/support';
import { createSiamfaceWorker, runWorker } from './worker-options';

export function main(): Promise<void> {
  return runWorker('cpu-worker', async () => {
    defaultDetector(); // a bad SIAMFACE_FACE_DETECTOR stops the worker here, named, not each image later
    const store = objectStoreFromEnv();
    await store.ensureBucket();
    return createSiamfaceWorker({
      taskQueue: taskQueueFromEnv('cpu'), // dedicated queues: tests run their own worker processes
      activities: cpuActivities(activityDeps(store)),
      withWorkflows: true,
      maxConcurrentActivities: Number(process.env.SIAMFACE_CPU_CONCURRENCY ?? 2),
    });
  });
}

if (require.main === module) void main();
