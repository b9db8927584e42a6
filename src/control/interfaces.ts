// The host's interfaces named by rlocs.interfaces: their addresses are our RLOCs (roaming follows
// them), and what is wrong with them is said at start.
import * as os from 'node:os';
import { isIPv4 } from 'node:net';

/** Addresses of the named interfaces, IPv4 first (the order RLOCs are registered in). */
export function interfaceAddresses(names: readonly string[]): string[] {
  const all = os.networkInterfaces();
  const out: string[] = [];
  for (const name of names) {
    for (const a of all[name] ?? []) {
      if (a.internal || (a.family === 'IPv6' && a.address.startsWith('fe80'))) continue;
      out.push(a.address);
    }
  }
  return out.sort((a, b) => Number(!isIPv4(a)) - Number(!isIPv4(b)));
}

/**
 * What is wrong with `rlocs.interfaces`, in words: an interface that does not exist, or one with
 * no usable address yet (the node waits for it and registers as soon as it gets one).
 */
export function interfaceProblems(names: readonly string[], all: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string[] {
  const out: string[] = [];
  for (const name of names) {
    const addrs = all[name];
    if (!addrs) out.push(`rlocs.interfaces: interface ${name} does not exist; waiting for it (check the name with 'ip link')`);
    else if (!addrs.some((a) => !a.internal && !(a.family === 'IPv6' && a.address.startsWith('fe80')))) {
      out.push(`rlocs.interfaces: interface ${name} has no address yet; waiting for one`);
    }
  }
  return out;
}
