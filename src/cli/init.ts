// `decent init`: writes a commented config for this host, so a first node needs no hand editing.
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { configSchema } from '../config/schema';
import { UsageError, stringOption, type Command } from './command';

/** RFC 2365 administratively scoped: a group name that never leaves a site if multicast is used. */
export const DEFAULT_GROUP = '239.1.1.1';
export const DEFAULT_KEY_FILE = '/etc/decent/group.key';

/**
 * The interface of the IPv4 default route with the lowest metric (/proc/net/route), else of
 * the IPv6 one (/proc/net/ipv6_route): the underlay other hosts reach this one through.
 */
export function defaultRouteInterface(procNet = '/proc/net'): string | undefined {
  const read = (f: string): string[] => {
    try {
      return fs.readFileSync(path.join(procNet, f), 'utf8').split('\n');
    } catch {
      return [];
    }
  };
  let best: { name: string; metric: number } | undefined;
  for (const line of read('route').slice(1)) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000' || (Number.parseInt(f[3], 16) & 1) === 0) continue;
    const metric = Number.parseInt(f[6], 10);
    if (!best || metric < best.metric) best = { name: f[0], metric };
  }
  if (best) return best.name;
  for (const line of read('ipv6_route')) {
    // dest destlen src srclen nexthop metric refcnt use flags iface
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^0{32}$/.test(f[0]) || f[1] !== '00' || f[9] === 'lo') continue;
    const metric = Number.parseInt(f[5], 16);
    if (!best || metric < best.metric) best = { name: f[9], metric };
  }
  return best?.name;
}

/** Is `ip` (IPv4) inside one of this host's own subnets? An EID there would shadow the LAN. */
function onLocalSubnet(ip: string): boolean {
  const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || !a.cidr) continue;
      const len = Number(a.cidr.split('/')[1]);
      const size = 2 ** (32 - len);
      if (Math.floor(toInt(ip) / size) === Math.floor(toInt(a.address) / size)) return true;
    }
  }
  return false;
}

/** A random host EID in 10.0.0.0/8 (RFC 1918) that is on none of this host's subnets. */
export function randomPrivateEid(): string {
  for (let i = 0; i < 100; i++) {
    const ip = `10.${randomInt(256)}.${randomInt(256)}.${1 + randomInt(254)}`;
    if (!onLocalSubnet(ip)) return `${ip}/32`;
  }
  throw new Error('could not find a free address in 10.0.0.0/8: give one with --eid');
}

/** A random host EID in a fresh fd00::/8 unique-local /48 (RFC 4193), shown as a suggestion. */
export function randomUlaEid(): string {
  const hex = (n: number): string => randomInt(n).toString(16);
  return `fd${hex(256).padStart(2, '0')}:${hex(65536)}:${hex(65536)}::1/128`;
}

const list = (v: string | undefined): string[] => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

export interface InitChoices {
  readonly name: string;
  readonly eids: readonly string[];
  readonly interfaces: readonly string[];
  readonly group: string;
  readonly seeds: readonly string[];
  readonly keyFile: string;
  readonly ulaSuggestion: string;
}

/** The config text, with a comment on every line a new user has to understand. */
export function renderConfig(c: InitChoices): string {
  const q = (s: string): string => JSON.stringify(s);
  return `# decent node config for ${c.name}, written by \`decent init\`.
# Every key is explained in the README's "Configuration" table. Check this file with
#   decent run --config THIS-FILE      (a mistake exits 2 naming its line)
name: ${c.name}                      # this node's name; unique in the group

# EIDs: the addresses this host is reached at through the overlay, whatever its RLOCs are.
# Each host needs its own; use private ranges only (10.0.0.0/8, fd00::/8), never addresses
# that exist on the internet: the overlay would capture traffic meant for them.
eids:
${c.eids.map((e) => `  - ${q(e)}`).join('\n')}
  # - ${q(c.ulaSuggestion)}     # an IPv6 EID too (a random unique-local address)

# RLOCs: this host's underlay addresses, the ones other members send LISP packets to.
# They are read from these interfaces (at start, and again whenever they change).
rlocs:
  interfaces: [${c.interfaces.join(', ')}]

decent:
  mode: push                  # every member stores every mapping (RFC 9962 §4)
  # The group names the set of members in the mapping system (RFC 9962 §4); it is the same on
  # every member. With replication: her no multicast is sent: registrations are copied to each
  # member over unicast, so the underlay needs no multicast routing.
  group: ${c.group}
  replication: her
  # Seeds: RLOCs of members that already run, to join through (one is enough). Leave it
  # empty on the first host; the others list the first one.
  seeds: [${c.seeds.join(', ')}]

auth:
  # The group's shared key (\`decent genkey --out ${c.keyFile}\` on one host, then copy that
  # file to every member). Members with another key are not accepted.
  key-file: ${c.keyFile}

# The data plane: a TUN device that carries the EIDs' traffic. Without this section the node
# only takes part in the mapping system.
dataplane:
  tun: decent0
  mtu: 1408                   # room for the LISP headers and encryption in 1500; a multiple of 64 seals faster

api:
  socket: /run/decent/${c.name}.sock   # \`decent show\` talks to the node here
`;
}

export const initCommand: Command = {
  name: 'init',
  summary: 'write a commented config for this host (interface, a private EID, the group, seeds)',
  operands: '',
  minOperands: 0,
  maxOperands: 0,
  description: [
    'Writes a config for a push-mode node on this host: its name (the host name), the',
    'interface of the default route as the RLOC interface, a random private EID in',
    '10.0.0.0/8 that is on none of this host\'s subnets, the group (default 239.1.1.1,',
    'replicated over unicast), the seeds and the key file. Every line is commented.',
    '',
    'The file is not overwritten if it exists. FILE defaults to /etc/decent/NAME.yaml; - prints',
    'to standard output. Lists (--eid, --seeds, --interface) are comma-separated.',
    '',
    'Exit status: 0 written, 1 the file exists or cannot be written, 2 a bad option.',
  ].join('\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', placeholder: 'FILE', description: 'where to write (default /etc/decent/NAME.yaml; - for standard output)' },
    { name: 'name', short: 'n', type: 'string', placeholder: 'NAME', description: 'node name (default: the host name)' },
    { name: 'eid', short: 'e', type: 'string', placeholder: 'EIDS', description: 'own EIDs (default: a random host in 10.0.0.0/8)' },
    { name: 'interface', short: 'i', type: 'string', placeholder: 'IFS', description: 'RLOC interfaces (default: the one with the default route)' },
    { name: 'group', short: 'g', type: 'string', placeholder: 'GROUP', description: `the group's multicast address (default ${DEFAULT_GROUP})` },
    { name: 'seeds', short: 's', type: 'string', placeholder: 'RLOCS', description: 'RLOCs of running members to join through (default: none, the first host)' },
    { name: 'key-file', short: 'k', type: 'string', placeholder: 'FILE', description: `the group key file (default ${DEFAULT_KEY_FILE})` },
  ],
  examples: [
    'init                                      # first host: /etc/decent/HOSTNAME.yaml',
    'init --seeds 192.0.2.10                   # the next hosts join through the first',
    'init --name pi1 --eid 10.20.0.1/32,fd00:20::1/128 --interface wlan0 --out pi1.yaml',
    'init --out - | less                       # just look',
  ],
  async run(args, io) {
    const name = stringOption(args, 'name') ?? os.hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64);
    let interfaces = list(stringOption(args, 'interface'));
    if (interfaces.length === 0) {
      const found = defaultRouteInterface();
      if (!found) {
        io.err('decent init: this host has no default route, so the underlay interface is unknown: name it with --interface\n');
        return 1;
      }
      interfaces = [found];
    }
    const known = Object.keys(os.networkInterfaces());
    for (const i of interfaces) {
      if (!known.includes(i)) io.err(`decent init: warning: interface ${i} does not exist here (now); the node waits for it\n`);
    }
    const seeds = list(stringOption(args, 'seeds'));
    for (const s of seeds) if (isIP(s) === 0) throw new UsageError(`--seeds takes RLOC addresses, got '${s}'`);
    const eids = list(stringOption(args, 'eid'));
    const choices: InitChoices = {
      name, interfaces, seeds,
      eids: eids.length ? eids : [randomPrivateEid()],
      group: stringOption(args, 'group') ?? DEFAULT_GROUP,
      keyFile: stringOption(args, 'key-file') ?? DEFAULT_KEY_FILE,
      ulaSuggestion: randomUlaEid(),
    };
    const text = renderConfig(choices);
    // The same schema `decent run` applies: a bad --eid or --group is a usage error here, not at start.
    const check = configSchema.safeParse(parseDocument(text).toJS());
    if (!check.success) {
      throw new UsageError(check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    const out = stringOption(args, 'out') ?? `/etc/decent/${name}.yaml`;
    if (out === '-') {
      io.out(text);
      return 0;
    }
    try {
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, text, { flag: 'wx', mode: 0o644 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      io.err(`decent init: cannot write ${out}: ${code === 'EEXIST' ? 'it exists (not overwritten; remove it or choose --out)' : code ?? (e as Error).message}\n`);
      return 1;
    }
    const keyReady = fs.existsSync(path.resolve(path.dirname(path.resolve(out)), choices.keyFile));
    io.out([
      `Wrote ${out}: node ${name}, EID ${choices.eids.join(', ')}, RLOCs from ${interfaces.join(', ')}, group ${choices.group}${seeds.length ? `, seeds ${seeds.join(', ')}` : ' (first member: no seeds)'}.`,
      ...(keyReady ? [] : [`Next: the group key. On one host: decent genkey --out ${choices.keyFile}; copy it to the others.`]),
      `Start: decent run --config ${out}   (or: systemctl enable --now decent@${name})`,
      '',
    ].join('\n'));
    return 0;
  },
};
