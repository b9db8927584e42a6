// Readiness on Node's own event loop: the addon starts a uv_poll on the fd and calls one JS
// function per wake-up. The callback is expected to drain in bounded batches until the
// read returns 0 (EAGAIN), so one busy fd cannot starve the other.
import { loadAddon } from './addon';

export class Readiness {
  private handle: object | undefined;

  constructor(fd: number, onReadable: () => void, onError: (message: string) => void) {
    this.handle = loadAddon().watch(fd, (error) => {
      if (error === null) onReadable();
      else onError(error);
    });
  }

  get active(): boolean {
    return this.handle !== undefined;
  }

  stop(): void {
    if (this.handle) loadAddon().unwatch(this.handle);
    this.handle = undefined;
  }
}
