/** Public API of the model package: tower, backbone, losses, preprocessing, backends, weights, I/O. */
export * from './densenet';
export * from './layers';
export * from './tower';
export * from './distance';
export * from './losses';
export * from './preprocess';
export * from './backend';
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS, conv2dBackpropFilterFromOps } from './wasm-kernels';
export * from './keras-weights';
export * from './io';
