export * from './metrics';
export * from './calibration';
export * from './types';
export * from './pairs';
export * from './evaluate-pairs';
export * from './plots';
export * from './report-html';
export * from './report-store';
