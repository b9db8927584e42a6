// A NAT for namespace testbeds: a router namespace with nftables masquerade between a private
// LAN (one host namespace behind it) and the public bridge of a `createTestbed` bed.
//
//   const bed = createTestbed({ prefix: 'nat', nodes: 1, subnet: '198.51.100', firstHost: 5 });
//   const nat = createNat({ bridge: bed, prefix: 'nat', publicAddress: '198.51.100.10', privateSubnet: '192.168.77' });
//   nat.host.exec([...])     // runs behind the NAT: 192.168.77.5, default route via .1
//   nat.flushConntrack()     // forget every mapping (NAT rebinding)
//   nat.destroy()            // idempotent; also runs on process exit
//
// Mapping behaviour (RFC 4787 terms):
//   - 'endpoint-independent': `masquerade to :PORTS`. Linux keeps one translated port for a
//     source address:port whatever the destination, as long as it is free (the lispers.net NAT
//     capture shows the same: one port towards the map-server and towards the RTR).
//   - 'symmetric': `masquerade to :PORTS fully-random`: every new destination gets a random
//     port, so an endpoint learned by one peer is useless to another.
// Translated ports are taken from 40000–40999 so that a translation is always visible.
import { existsSync } from 'node:fs';
import { ip, Netns, uniqueName } from './netns';
import type { Testbed } from './bridge';

export type NatMapping = 'endpoint-independent' | 'symmetric';

export interface NatOptions {
  /** The public bridge (a `createTestbed` bed) the NAT's outside interface joins. */
  readonly bridge: Pick<Testbed, 'bridgeNs' | 'subnet'>;
  /** Up to 5 characters, for unique namespace names. */
  readonly prefix: string;
  /** The NAT's outside address, inside the bridge's /24. */
  readonly publicAddress: string;
  /** First three octets of the private /24: the NAT is .1, the host .5. */
  readonly privateSubnet: string;
  readonly mapping?: NatMapping;
  /** Translated source ports (default 40000-40999). */
  readonly ports?: readonly [number, number];
}

export interface Nat {
  /** The router namespace: eth0 outside (on the bridge), eth1 inside. */
  readonly ns: Netns;
  /** The host behind the NAT: eth0 with `hostAddress`, default route via the NAT. */
  readonly host: Netns;
  readonly hostAddress: string;
  readonly gateway: string;
  readonly mapping: NatMapping;
  /** The current outside address. */
  publicAddress: string;
  /** Drops everything between the NAT's outside and `peer` (a path that breaks), until `unblock`. */
  block(peer: string): void;
  unblock(): void;
  /** Forgets every mapping, as a NAT that reboots or times out does (NAT rebinding). */
  flushConntrack(): void;
  /** Moves the outside interface to another address of the bridge subnet and forgets every mapping. */
  changePublicAddress(address: string): void;
  /** The nftables ruleset as loaded (for test failure messages). */
  ruleset(): string;
  destroy(): void;
}

const TABLE = 'decentnat';

/**
 * The system's binary by absolute path: under `npm test` the PATH starts with node_modules/.bin,
 * where a dependency's `nft` (@vercel/nft, a file tracer) shadows nftables' and exits 0.
 */
function systemBinary(name: string): string {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => `${d}/${name}`).find((p) => existsSync(p)) ?? name;
}
const NFT = systemBinary('nft');
const CONNTRACK = systemBinary('conntrack');

export function natRuleset(mapping: NatMapping, ports: readonly [number, number]): string {
  const flags = mapping === 'symmetric' ? ' fully-random' : '';
  return [
    `table ip ${TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname "eth0" meta l4proto { tcp, udp } masquerade to :${ports[0]}-${ports[1]}${flags}`,
    `    oifname "eth0" masquerade${flags}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function createNat(opts: NatOptions): Nat {
  const mapping = opts.mapping ?? 'endpoint-independent';
  const ports = opts.ports ?? [40000, 40999];
  const created: Netns[] = [];
  let bridgePort: string | undefined;
  try {
    const ns = new Netns(uniqueName(`${opts.prefix}nt`));
    created.push(ns);
    const host = new Netns(uniqueName(`${opts.prefix}nh`));
    created.push(host);

    // Outside: a veth to a new port of the public bridge.
    const outside = uniqueName('vo');
    bridgePort = uniqueName('pn');
    ip(['link', 'add', outside, 'netns', ns.name, 'type', 'veth', 'peer', 'name', bridgePort, 'netns', opts.bridge.bridgeNs.name]);
    ns.ip(['link', 'set', outside, 'name', 'eth0']);
    ns.ip(['addr', 'add', `${opts.publicAddress}/24`, 'dev', 'eth0']);
    ns.ip(['link', 'set', 'eth0', 'up']);
    opts.bridge.bridgeNs.ip(['link', 'set', bridgePort, 'master', 'br0', 'up']);

    // Inside: a veth straight to the host.
    const gateway = `${opts.privateSubnet}.1`;
    const hostAddress = `${opts.privateSubnet}.5`;
    const inside = uniqueName('vi'), hostSide = uniqueName('vh');
    ip(['link', 'add', inside, 'netns', ns.name, 'type', 'veth', 'peer', 'name', hostSide, 'netns', host.name]);
    ns.ip(['link', 'set', inside, 'name', 'eth1']);
    ns.ip(['addr', 'add', `${gateway}/24`, 'dev', 'eth1']);
    ns.ip(['link', 'set', 'eth1', 'up']);
    host.ip(['link', 'set', hostSide, 'name', 'eth0']);
    host.ip(['addr', 'add', `${hostAddress}/24`, 'dev', 'eth0']);
    host.ip(['link', 'set', 'eth0', 'up']);
    host.ip(['route', 'add', 'default', 'via', gateway, 'src', hostAddress]);

    // Forward only between the two sides; nothing from outside reaches the LAN unless a
    // mapping (conntrack) says so: that is what makes it a NAT and not a router. Unsolicited
    // packets to the NAT itself are dropped too, as home routers' firewalls do. Answered
    // instead (ICMP port unreachable), the first hole-punching probe from a peer would leave a
    // conntrack entry for (peer -> our translated port) that makes our next mapping towards that
    // peer take another port: endpoint-independent mapping broken exactly when it matters.
    ns.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    const rules = natRuleset(mapping, ports) + [
      `table ip ${TABLE}filter {`,
      '  chain forward {',
      '    type filter hook forward priority filter; policy drop;',
      '    ct state established,related accept',
      '    iifname "eth1" oifname "eth0" accept',
      '  }',
      '  chain input {',
      '    type filter hook input priority filter; policy drop;',
      '    ct state established,related accept',
      '    iifname { "eth1", "lo" } accept',
      '  }',
      '}',
      '',
    ].join('\n');
    ns.exec([NFT, '-f', '-'], { input: rules });

    const destroy = (): void => {
      for (const n of [...created].reverse()) n.destroy();
      // The bridge port went with the NAT namespace (a veth dies with its peer).
    };
    const nat: Nat = {
      ns, host, hostAddress, gateway, mapping,
      publicAddress: opts.publicAddress,
      flushConntrack() {
        try {
          ns.exec([CONNTRACK, '-F']);
        } catch (e) {
          // conntrack exits 1 with "0 flow entries" on some versions when the table was empty.
          if (!/0 flow entries/.test(String((e as { stderr?: string }).stderr ?? e))) throw e;
        }
      },
      changePublicAddress(address) {
        // Delete first: removing a primary address also flushes same-subnet secondaries.
        ns.ip(['addr', 'del', `${nat.publicAddress}/24`, 'dev', 'eth0']);
        ns.ip(['addr', 'add', `${address}/24`, 'dev', 'eth0']);
        nat.publicAddress = address;
        nat.flushConntrack();
      },
      block(peer) {
        ns.exec([NFT, '-f', '-'], { input: [
          `table ip ${TABLE}block {`,
          '  chain prerouting { type filter hook prerouting priority raw; policy accept;',
          `    ip saddr ${peer} drop`, '  }',
          '  chain postrouting { type filter hook postrouting priority srcnat + 1; policy accept;',
          `    ip daddr ${peer} drop`, '  }',
          '}', '',
        ].join('\n') });
      },
      unblock() {
        ns.exec([NFT, 'delete', 'table', 'ip', `${TABLE}block`]);
      },
      ruleset: () => ns.exec([NFT, 'list', 'ruleset']),
      destroy,
    };
    return nat;
  } catch (e) {
    for (const n of created.reverse()) n.destroy();
    throw e;
  }
}

/**
 * A UDP reflector: answers every datagram with "ADDRESS:PORT" of its sender, on each of `ports`.
 * Run it with `node -e` in a namespace; prints "ready" once bound.
 */
export const UDP_REFLECTOR = `const d=require('dgram');let n=0;const ports=process.argv.slice(1).map(Number);
for(const p of ports){const s=d.createSocket('udp4');s.on('message',(m,r)=>s.send(r.address+':'+r.port,r.port,r.address));
s.bind(p,()=>{if(++n===ports.length)console.log('ready');});}`;

/**
 * A UDP prober: from one socket, sends to each HOST:PORT in turn and prints the reflector's
 * answers as one JSON array (what each destination saw as our address:port).
 */
export const UDP_PROBER = `const d=require('dgram');const s=d.createSocket('udp4');const dst=process.argv.slice(1);const seen=[];
let i=0;const next=()=>{if(i===dst.length){console.log(JSON.stringify(seen));s.close();return;}
const [h,p]=dst[i].split(':');let tries=0;const send=()=>{if(++tries>20){seen.push(null);i++;next();return;}s.send('x',+p,h);t=setTimeout(send,100);};
let t;s.removeAllListeners('message');s.on('message',(m)=>{clearTimeout(t);seen.push(m.toString());i++;next();});send();};
s.bind(0,next);`;
