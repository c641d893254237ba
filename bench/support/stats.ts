/** The benches' summary statistics, on the evaluation code's quantile (numpy's linear interpolation). */
import { quantile } from '../../lib/eval/metrics';

/** The q-quantile of numbers in any order; NaN when there are none. */
export const quantileOf = (xs: readonly number[], q: number): number => (xs.length ? quantile([...xs].sort((a, b) => a - b), q) : NaN);

export const median = (xs: readonly number[]): number => quantileOf(xs, 0.5);
