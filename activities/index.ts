/**
 * All activities, built over their dependencies (the S3 store). Workers register the subset for
 * their queue; workflows import only the types (`import type`).
 */
import type { ActivityDeps } from './support';
import { pingActivities } from './ping';

export function cpuActivities(deps: ActivityDeps) {
  return {
    ...pingActivities(deps),
  };
}

export function gpuActivities(_deps: ActivityDeps) {
  return {};
}

export type CpuActivities = ReturnType<typeof cpuActivities>;
export type GpuActivities = ReturnType<typeof gpuActivities>;
export type { ActivityDeps } from './support';
