// Stopping the child processes a testbed started (demos, benchmarks): SIGTERM so nodes send their
// goodbyes and remove their TUNs, SIGKILL for one that has not exited after the grace period.
import type { ChildProcess } from 'node:child_process';

/** SIGTERM each running child, SIGKILL after `graceMs`; resolves when all have exited or been killed. */
export function stopProcesses(children: readonly (ChildProcess | undefined)[], graceMs = 3000): Promise<void> {
  return Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
    const kill = setTimeout(() => {
      c.kill('SIGKILL');
      resolve();
    }, graceMs);
    kill.unref();
    c.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    c.kill('SIGTERM');
  }))).then(() => undefined);
}
