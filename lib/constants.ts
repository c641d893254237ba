/** Constants shared by workflows (deterministic, no I/O) and the rest of the code. */
export const TASK_QUEUES = { cpu: 'siamface-cpu', gpu: 'siamface-gpu' } as const;
