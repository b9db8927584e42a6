// Closes every open TUN and UDP handle when the process exits, so a crashed or interrupted
// run does not leave devices behind. The kernel would close the fds anyway (and a
// non-persistent TUN disappears with its last fd); this makes the order explicit: watchers
// stop before their fd closes.
interface Closable { close(): void }

const open = new Set<Closable>();
let hooked = false;

export function track(c: Closable): void {
  open.add(c);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const x of [...open]) {
        try { x.close(); } catch { /* exiting: nothing left to report to */ }
      }
    });
  }
}

export function untrack(c: Closable): void {
  open.delete(c);
}
