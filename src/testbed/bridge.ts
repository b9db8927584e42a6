// A LISP-Decent testbed: N namespaces ("nodes") whose eth0 ends on one bridge that lives in a
// namespace of its own, with multicast flooding off on every port, as in the lispers.net demo
// (so group traffic only reaches members by head-end replication). Everything is removed by
// destroy(), which also runs on process exit.
import { ip, Netns, uniqueName } from './netns';

export interface BedNode {
  readonly index: number;
  readonly ns: Netns;
  /** Underlay (RLOC) address on eth0. */
  address: string;
}

export interface Testbed {
  readonly bridgeNs: Netns;
  readonly nodes: readonly BedNode[];
  readonly subnet: string;
  /** Moves a node to another address of the subnet (roaming): the old address goes away. */
  readdress(node: BedNode, address: string): void;
  destroy(): void;
}

export interface TestbedOptions {
  readonly prefix: string;
  readonly nodes: number;
  /** First three octets of the /24, e.g. "192.168.77". */
  readonly subnet: string;
  /** Host part of node i's address is firstHost + i. */
  readonly firstHost?: number;
  readonly multicastFlood?: boolean;
}

export function createTestbed(opts: TestbedOptions): Testbed {
  if ((opts.firstHost ?? 5) < 2) throw new RangeError('firstHost must be at least 2: .1 is the bridge');
  const created: Netns[] = [];
  try {
    const bridgeNs = new Netns(uniqueName(`${opts.prefix}br`));
    created.push(bridgeNs);
    bridgeNs.ip(['link', 'add', 'br0', 'type', 'bridge']);
    bridgeNs.ip(['addr', 'add', `${opts.subnet}.1/24`, 'dev', 'br0']);
    bridgeNs.ip(['link', 'set', 'br0', 'up']);
    const nodes: BedNode[] = [];
    for (let i = 0; i < opts.nodes; i++) {
      const ns = new Netns(uniqueName(`${opts.prefix}n${i + 1}`));
      created.push(ns);
      const inside = uniqueName('vi');
      const port = `p${i + 1}`;
      ip(['link', 'add', inside, 'netns', ns.name, 'type', 'veth', 'peer', 'name', port, 'netns', bridgeNs.name]);
      ns.ip(['link', 'set', inside, 'name', 'eth0']);
      const address = `${opts.subnet}.${(opts.firstHost ?? 5) + i}`;
      ns.ip(['addr', 'add', `${address}/24`, 'dev', 'eth0']);
      ns.ip(['link', 'set', 'eth0', 'up']);
      ns.ip(['route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
      bridgeNs.ip(['link', 'set', port, 'master', 'br0', 'up']);
      if (!opts.multicastFlood) bridgeNs.ip(['link', 'set', 'dev', port, 'type', 'bridge_slave', 'mcast_flood', 'off']);
      nodes.push({ index: i, ns, address });
    }
    return {
      bridgeNs,
      nodes,
      subnet: opts.subnet,
      readdress(node, address) {
        // Delete first: removing a primary address also flushes same-subnet secondaries
        // unless promote_secondaries is set.
        node.ns.ip(['addr', 'del', `${node.address}/24`, 'dev', 'eth0']);
        node.ns.ip(['addr', 'add', `${address}/24`, 'dev', 'eth0']);
        node.address = address;
      },
      destroy() {
        for (const ns of created.reverse()) ns.destroy();
      },
    };
  } catch (e) {
    for (const ns of created.reverse()) ns.destroy();
    throw e;
  }
}
