/**
 * CPU affinity for the freshness phase (issue 18 item 5: the load generator on its own core
 * budget). `taskset -a -p` re-pins every thread of a running process; threads it starts later
 * inherit the mask. The previous masks are kept so the stack's Redis and broker get theirs back.
 */
import { execFileSync } from 'node:child_process';

/** A CPU list as taskset takes it ("1", "0-1", "0,2"), each CPU below the machine's count. */
export function parseCpuList(text: string, cores: number): string {
  const parts = text.split(',');
  for (const part of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`not a CPU list (e.g. 1, 0-1, 0,2): ${JSON.stringify(text)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi >= cores) throw new Error(`CPU list ${JSON.stringify(text)} names CPUs outside 0-${cores - 1}`);
  }
  return text;
}

/** The CPU list a process may run on now. */
export function affinityOf(pid: number): string {
  const out = execFileSync('taskset', ['-p', '-c', String(pid)], { encoding: 'utf8' });
  const list = /affinity list:\s*(\S+)/.exec(out)?.[1];
  if (list === undefined) throw new Error(`taskset gave no affinity list for pid ${pid}: ${out.trim()}`);
  return list;
}

/** Pins every thread of `pid` to `cpus`; returns the list it had before. */
export function pinProcess(pid: number, cpus: string): string {
  const before = affinityOf(pid);
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  return before;
}

/** Pins a set of processes and gives each its previous list back on `restore()`. */
export class Pinning {
  private readonly previous = new Map<number, string>();

  pin(pid: number | null, cpus: string | null): void {
    if (pid === null || cpus === null) return;
    const before = pinProcess(pid, cpus);
    if (!this.previous.has(pid)) this.previous.set(pid, before);
  }

  restore(): void {
    for (const [pid, cpus] of this.previous) {
      try {
        execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
      } catch {
        // the process has exited: nothing to give back
      }
    }
    this.previous.clear();
  }
}
