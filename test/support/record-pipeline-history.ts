/**
 * Regenerates the replay fixture: runs a tiny trainingPipeline on a private stack with in-process
 * workers and saves its history. Run after an intentional, versioned workflow change:
 *   node dist/test/support/record-pipeline-history.js test/fixtures/pipeline/training-pipeline-history.json
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { usePrivateStack } from './stack';
import { subsetOf } from './shared-data';
import { tinyPipelineConfig } from './pipeline-fixtures';
import { createSiamfaceWorker } from '../../workers/worker-options';
import { cpuActivities, gpuActivities } from '../../activities';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { trainingPipeline } from '../../workflows/training-pipeline';

async function main() {
  const out = process.argv[2];
  if (!out) throw new Error('usage: record-pipeline-history <out.json>');
  const stack = await usePrivateStack('record');
  try {
    const queues = { cpu: 'replay-cpu', gpu: 'replay-gpu' };
    const temporal = { address: stack.info.temporal.address, namespace: stack.info.temporal.namespace };
    const cpu = await createSiamfaceWorker({ taskQueue: queues.cpu, activities: cpuActivities({ store: stack.store }), withWorkflows: true, workflowBundle: await stack.workflowBundle(), connection: stack.nativeConnection, temporal });
    const gpu = await createSiamfaceWorker({ taskQueue: queues.gpu, activities: gpuActivities({ store: stack.store }), connection: stack.nativeConnection, temporal });
    const dataset = subsetOf('lfw-train', { identities: 10, minImages: 3, maxImages: 5 });
    const workflowId = 'replay-fixture';
    await cpu.worker.runUntil(gpu.worker.runUntil(stack.client.workflow.execute(trainingPipeline, { taskQueue: queues.cpu, workflowId, args: [tinyPipelineConfig(dataset, queues)] })));
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, historyToJSON(history));
    console.log(`wrote ${out} (${history.events?.length} events)`);
  } finally {
    await stack.close();
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
