/**
 * Flag value parsers: a bad value is a usage error at the command line, naming the flag (commander prints
 * "option '--chunk-size <n>' argument 'x' is invalid. ..." and the CLI exits 2), never a failure deep in a workflow.
 */
import { InvalidArgumentError } from 'commander';

export function positiveInt(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value.trim())) throw new InvalidArgumentError('must be a positive integer.');
  return Number(value);
}

export function nonNegativeNumber(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError('must be a number >= 0.');
  return v;
}

export function finiteNumber(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v)) throw new InvalidArgumentError('must be a number.');
  return v;
}

/** Where a command's lines go: data to stdout, logs and progress to stderr (tests capture both). */
export interface CliOutput {
  print?: (line: string) => void;
  log?: (line: string) => void;
}

export function outputOf(deps: CliOutput): { print: (line: string) => void; log: (line: string) => void } {
  return { print: deps.print ?? ((line) => console.log(line)), log: deps.log ?? ((line) => console.error(line)) };
}
