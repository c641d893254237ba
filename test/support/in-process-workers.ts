/** A CPU worker (workflows + CPU activities) and a GPU worker in this process, on a test file's own queues. */
import type { Worker } from '@temporalio/worker';
import type { TestStack } from './stack';
import { createSiamfaceWorker } from '../../workers/worker-options';
import { cpuActivities, gpuActivities } from '../../activities';

export interface InProcessWorkers {
  queues: { cpu: string; gpu: string };
  stop(): Promise<void>;
}

/** `gpu: false` leaves the GPU queue to worker processes the test starts (and kills) itself. */
export async function startInProcessWorkers(stack: TestStack, opts: { gpu?: boolean } = {}): Promise<InProcessWorkers> {
  const queues = { cpu: stack.queue('cpu'), gpu: stack.queue('gpu') };
  const temporal = { address: stack.info.temporal.address, namespace: stack.info.temporal.namespace };
  const cpu = await createSiamfaceWorker({ taskQueue: queues.cpu, activities: cpuActivities({ store: stack.store }), withWorkflows: true, workflowBundle: await stack.workflowBundle(), connection: stack.nativeConnection, temporal });
  const gpu = opts.gpu === false ? null : await createSiamfaceWorker({ taskQueue: queues.gpu, activities: gpuActivities({ store: stack.store }), connection: stack.nativeConnection, temporal });
  const workers: Worker[] = [cpu.worker, ...(gpu ? [gpu.worker] : [])];
  const running = workers.map((w) => w.run());
  return {
    queues,
    async stop() {
      for (const w of workers) w.shutdown();
      await Promise.allSettled(running);
    },
  };
}
