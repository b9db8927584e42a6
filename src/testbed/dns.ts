// A real DNS server for pull mode's Map-Server sets (RFC 9962 §5): Debian's dnsmasq in a test
// namespace answers `i.SUFFIX` with every address of set i (A and AAAA records), authoritative
// for SUFFIX and nothing else. Nodes find it through their namespace's /etc/resolv.conf
// (`ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf over it) or `decent.pull.dns-servers`.
//
//   const dns = startDnsmasq(bed.bridgeNs, { listen: '10.86.0.1', suffix: 'ms.decent', sets });
//   useResolver(node.ns, dns.address);            // or dns-servers: [10.86.0.1] in the config
//   dns.setSets(fewer);                           // re-read at once (SIGHUP), as an operator would
//   dns.stop();
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Netns } from './netns';

/** Set index → the addresses (Map-Server RLOCs) of that set. */
export type MapServerSets = ReadonlyMap<number, readonly string[]>;

export interface DnsServer {
  readonly address: string;
  readonly suffix: string;
  /** Replaces the published sets; dnsmasq re-reads them before this returns. */
  setSets(sets: MapServerSets): Promise<void>;
  stop(): Promise<void>;
}

export interface DnsmasqOptions {
  /** Address dnsmasq binds (it must be on an interface of `ns`). */
  readonly listen: string;
  readonly suffix: string;
  readonly sets: MapServerSets;
  /** Record TTL in seconds (dnsmasq's --local-ttl); 1 s lets tests see changes at once. */
  readonly ttl?: number;
}

/** The sets as a hosts file: one line per address, `ADDRESS i.SUFFIX` (A or AAAA by its family). */
export function setsHostsFile(sets: MapServerSets, suffix: string): string {
  const lines: string[] = [];
  for (const [i, addresses] of [...sets].sort(([a], [b]) => a - b)) {
    for (const a of addresses) lines.push(`${a} ${i}.${suffix}`);
  }
  return `${lines.join('\n')}\n`;
}

/** True when dnsmasq is installed (Debian: dnsmasq-base). */
export function dnsmasqAvailable(): boolean {
  return spawnSync('dnsmasq', ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function startDnsmasq(ns: Netns, o: DnsmasqOptions): Promise<DnsServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-dns-'));
  const hosts = path.join(dir, 'map-servers.hosts');
  fs.writeFileSync(hosts, setsHostsFile(o.sets, o.suffix));
  const child: ChildProcess = ns.spawn([
    'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--pid-file=', '--user=root', '--group=root',
    // Only our names: no /etc/hosts, no upstream servers; SUFFIX is ours, so other names under it are NXDOMAIN.
    '--no-hosts', '--no-resolv', `--local=/${o.suffix}/`, `--addn-hosts=${hosts}`, `--local-ttl=${o.ttl ?? 1}`,
    `--listen-address=${o.listen}`, '--bind-interfaces', '--port=53', '--log-facility=-', '--log-queries',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  let reads = 0;
  const keep = (d: Buffer): void => {
    const text = d.toString();
    reads += text.split(`read ${hosts}`).length - 1;
    log.push(text);
    if (log.length > 200) log.splice(0, log.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Ready when it answers: ask for set 0's name until an answer (or a failure) comes back.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`dnsmasq exited with ${child.exitCode}: ${log.join('').trim().split('\n').slice(-3).join(' | ')}`);
    }
    const probe = ns.spawn([process.execPath, '-e',
      `const r=new (require('dns').promises.Resolver)({timeout:200,tries:1});r.setServers([process.argv[1]]);` +
      `r.resolve4(process.argv[2]).then(()=>process.exit(0),(e)=>process.exit(e.code==='ETIMEOUT'||e.code==='ECONNREFUSED'?1:0))`,
      o.listen, `0.${o.suffix}`], { stdio: 'ignore' });
    const code = await new Promise<number | null>((r) => probe.once('exit', r));
    if (code === 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dnsmasq on ${o.listen} did not answer within 10 s: ${log.join('').slice(-300)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: o.listen,
    suffix: o.suffix,
    async setSets(sets) {
      fs.writeFileSync(hosts, setsHostsFile(sets, o.suffix));
      // SIGHUP: dnsmasq clears its cache and re-reads --addn-hosts files (dnsmasq(8), NOTES).
      const before = reads;
      child.kill('SIGHUP');
      const by = Date.now() + 5_000;
      while (reads === before && Date.now() < by) await new Promise((r) => setTimeout(r, 20));
    },
    stop,
  };
}

/**
 * Points a namespace's resolver at `server`: /etc/netns/NAME/resolv.conf, which `ip netns exec`
 * bind-mounts over /etc/resolv.conf for every process started in it. Returns the remover.
 */
export function useResolver(ns: Netns, server: string): () => void {
  const dir = `/etc/netns/${ns.name}`;
  const existed = fs.existsSync(dir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'resolv.conf');
  fs.writeFileSync(file, `nameserver ${server}\noptions timeout:1 attempts:2\n`);
  return () => {
    fs.rmSync(file, { force: true });
    if (!existed) fs.rmSync(dir, { recursive: true, force: true });
  };
}
