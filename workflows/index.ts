// The workflow bundle's entry point: every workflow the CPU worker serves.
export { pingWorkflow } from './ping';
