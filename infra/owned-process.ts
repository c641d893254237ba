/**
 * Pid files that prove ownership: the pid plus the process's start time, recorded when we start it. A pid is ours
 * only while a process with that pid AND that start time runs, so `stack down` / `workers stop` never signal a
 * process they did not start (pids are reused; a command-line substring proves nothing).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

interface PidRecord {
  pid: number;
  startTime: string;
}

/** The kernel's start time of a process (Linux: /proc/<pid>/stat field 22; elsewhere `ps -o lstart`). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    if (fs.existsSync('/proc/self/stat')) return undefined; // Linux, and the process is gone
  }
  try {
    return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function writePidFile(file: string, pid: number): void {
  const startTime = processStartTime(pid);
  if (!startTime) throw new Error(`process ${pid} exited at once (see its log)`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ pid, startTime } satisfies PidRecord));
}

export function readPidFile(file: string): PidRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<PidRecord>;
    return Number.isInteger(r.pid) && (r.pid as number) > 0 && typeof r.startTime === 'string' ? (r as PidRecord) : undefined;
  } catch {
    return undefined; // missing, or a bare pid from an older version: not provably ours
  }
}

/** The pid in `file` if that very process still runs, else undefined. */
export function ownedPid(file: string): number | undefined {
  const r = readPidFile(file);
  if (!r) return undefined;
  return processStartTime(r.pid) === r.startTime ? r.pid : undefined;
}
