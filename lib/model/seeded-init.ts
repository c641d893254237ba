/**
 * Reproducible weight initialisation. tfjs initialisers without an explicit seed draw their seeds
 * from Math.random; building a model (synchronous, so
 * nothing else runs meanwhile) with Math.random temporarily seeded makes the initial weights a
 * function of the run's seed, which the layers' own initialisers still define.
 */
import { seededRandom } from '../data/pairs';

export function withSeededMathRandom<T>(seed: string, build: () => T): T {
  const original = Math.random;
  Math.random = seededRandom(seed);
  try {
    const out = build();
    if (out instanceof Promise) throw new Error('withSeededMathRandom: build must be synchronous');
    return out;
  } finally {
    Math.random = original;
  }
}
