// The workflow bundle's entry point: every workflow the CPU worker serves.
export { pingWorkflow } from './ping';
export { trainOnlyWorkflow } from './train-only';
export { trainingPipeline } from './training-pipeline';
export { batchVerify } from './batch-verify';
export { evaluateModel } from './evaluate-model';
