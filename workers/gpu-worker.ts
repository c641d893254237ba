/**
 * GPU worker: training (queue siamface-gpu). It picks the fastest TensorFlow.js backend available
 * (tfjs-node-gpu > tfjs-node > wasm > cpu) and says which one it fell back to.
 */
import { gpuActivities } from '../activities';
import { taskQueueFromEnv } from '../lib/config';
import { objectStoreFromEnv } from '../lib/storage/object-store';
import { activityDeps } from '../activities/support';
import { createSiamfaceWorker, runWorker } from './worker-options';
import { selectBackend } from '../lib/model/backend';

export function main(): Promise<void> {
  return runWorker('gpu-worker', async () => {
    const backend = await selectBackend();
    if (!backend.gpu) {
      console.warn(`gpu-worker: no GPU backend available; training runs on '${backend.backend}' (${backend.detail})`);
    } else {
      console.log(`gpu-worker: backend ${backend.backend} (${backend.detail})`);
    }
    const store = objectStoreFromEnv();
    await store.ensureBucket();
    return createSiamfaceWorker({
      taskQueue: taskQueueFromEnv('gpu'), // dedicated queues: tests run their own GPU worker processes
      activities: gpuActivities(activityDeps(store)),
      // One training run per GPU: concurrent runs would fight over device memory.
      maxConcurrentActivities: Number(process.env.SIAMFACE_GPU_CONCURRENCY ?? 1),
      shutdownGraceTime: '2m',
    });
  });
}

if (require.main === module) void main();
