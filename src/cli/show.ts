// `decent show site-cache|map-cache|database|peers|stats|conflicts`: tables from a running node's API.
import { apiRequest, ApiClientError } from '../api/client';
import { toJson } from '../api/json';
import { actionName } from '../wire';
import type { ConflictRow, CountersAnswer, DatabaseRow, MapCacheRow, PeerRow, SiteCacheRow } from '../api/types';
import { UsageError, flagOption, stringOption, type Command, type OptionDef } from './command';
import { ago, table } from './table';

export const SOCKET_OPTION: OptionDef = {
  name: 'socket', short: 's', type: 'string', placeholder: 'PATH',
  description: "the node's API socket (default: the only one in /run/decent, or /run/decent/decent.sock)",
};

/** The socket to use: --socket, else the single node socket under /run/decent. */
export function socketPath(given: string | undefined): string {
  if (given) return given;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  try {
    const socks = fs.readdirSync('/run/decent').filter((f) => f.endsWith('.sock'));
    if (socks.length === 1) return `/run/decent/${socks[0]}`;
    if (socks.length > 1) throw new UsageError(`several nodes run here (${socks.join(', ')}): choose one with --socket`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  return '/run/decent/decent.sock';
}

const WHAT = ['site-cache', 'map-cache', 'database', 'peers', 'stats', 'conflicts'] as const;
type What = (typeof WHAT)[number];

export const showCommand: Command = {
  name: 'show',
  summary: 'show a running node\'s site cache, map-cache, database, peers or stats',
  operands: 'site-cache|map-cache|database|peers|stats|conflicts',
  minOperands: 1,
  maxOperands: 1,
  description: [
    'Asks the running node (its local API socket) and prints a table; --json prints the',
    'API answer as JSON for scripts.',
    '',
    '  site-cache  registrations this node holds as a Map-Server: EID, RLOCs, last registerer,',
    '              first/last registered, flags (P proxy-reply, a merge, M want-map-notify)',
    '  map-cache   mappings the ITR forwards with: EID, RLOCs and state, TTL, uptime, packets',
    '  database    own EIDs and RLOCs',
    '  peers       the group members: name, RLOCs, EIDs, last registration, state (registered,',
    '              notified: named by a Map-Notify only, seed-not-registered: a seed that never',
    '              registered to us), reachability of their RLOCs (up, down, unknown),',
    '              path once a NAT is involved (direct, or via which RTR and why), and',
    '              encryption: the LISP-crypto send key (suite, key-id), packets sealed/opened',
    '  stats       a summary of the counters; --all lists every counter',
    '  conflicts   registrations refused: an EID another member owns, or a limit (newest last)'
  ].join('\n'),
  options: [
    SOCKET_OPTION,
    { name: 'json', type: 'boolean', description: 'print JSON instead of a table' },
    { name: 'all', short: 'a', type: 'boolean', description: 'stats: every counter, not the summary' },
  ],
  examples: ['show peers', 'show site-cache', 'show stats --all', 'show map-cache --socket /run/decent/n1.sock', 'show stats --json'],
  async run(args, io) {
    const what = args.positionals[0] as What;
    if (!WHAT.includes(what)) throw new UsageError(`show what? one of ${WHAT.join(', ')}; got '${args.positionals[0]}'`);
    const socket = socketPath(stringOption(args, 'socket'));
    const path = what === 'stats' ? '/api/counters' : `/api/${what}`;
    let data: unknown;
    try {
      data = await apiRequest(socket, 'GET', path);
    } catch (e) {
      if (e instanceof ApiClientError) {
        io.err(`decent show: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    if (flagOption(args, 'json')) {
      io.out(`${toJson(data, 2)}\n`);
      return 0;
    }
    // peers: the LISP-crypto state per RLOC from the data plane (empty without one, or with encryption off)
    const keys = what === 'peers' ? await apiRequest<KeyRow[]>(socket, 'GET', '/api/crypto').catch((): KeyRow[] => []) : [];
    io.out(what === 'stats' && !flagOption(args, 'all') ? statsSummary(data as CountersAnswer) : render(what, data, keys));
    return 0;
  },
};

interface KeyRow { direction: string; peerRloc: string; keyId: number; suite: number; sending: boolean; encrypted: number; decrypted: number }

/** One peer's LISP-crypto column: the send key's suite and key-id, packets sealed to and opened from its RLOCs. */
function cryptoCell(rlocs: readonly string[], keys: readonly KeyRow[]): string {
  const mine = keys.filter((k) => rlocs.includes(k.peerRloc));
  const send = mine.find((k) => k.direction === 'encap' && k.sending);
  if (!send) return 'no key';
  const sealed = mine.filter((k) => k.direction === 'encap').reduce((n, k) => n + k.encrypted, 0);
  const opened = mine.filter((k) => k.direction === 'decap').reduce((n, k) => n + k.decrypted, 0);
  return `suite ${send.suite} key ${send.keyId}, ${sealed} sealed / ${opened} opened`;
}

function render(what: What, data: unknown, keys: readonly KeyRow[] = []): string {
  const now = Date.now();
  switch (what) {
    case 'site-cache': {
      const rows = data as SiteCacheRow[];
      return table(['EID', 'RLOCs', 'last registerer', 'registered', 'first', 'flags'], rows.map((r) => [
        r.eid, r.rlocs.join(', '), r.lastRegisterer, `${ago(r.lastRegistered, now)} ago`, `${ago(r.firstRegistered, now)} ago`,
        [...new Set(r.registrations.map((g) => g.flags))].join(' '),
      ]));
    }
    case 'map-cache': {
      const rows = data as MapCacheRow[];
      return table(['EID', 'RLOCs', 'state', 'TTL', 'uptime', 'packets', 'source'], rows.map((e) => [
        e.key,
        e.members ? `replicate to ${e.members.join(', ')}` : e.rlocs.map((r) => `${r.address} p${r.priority}/w${r.weight}${r.up ? '' : ' down'}`).join(', ') || '-',
        e.negative ? `negative (${actionName(e.action)})` : 'up',
        e.source === 'static' ? 'never' : `${Math.round(Math.max(0, e.expiresAt - now) / 1000)}s`, ago(e.createdAt, now), String(e.packets), e.source,
      ]));
    }
    case 'database':
      return table(['EID', 'RLOCs'], (data as DatabaseRow[]).map((d) => [d.eid, d.rlocs.join(', ')]));
    case 'peers': {
      const rows = data as PeerRow[];
      if (rows.length === 0) return 'no members yet: check decent.seeds and that every member has the same group and key (decent show stats)\n';
      const eids = (list: readonly string[]): string => {
        const short = list.map((e) => e.replace(/^\[0\]/, ''));
        return short.length > 4 ? `${short.slice(0, 3).join(', ')} +${short.length - 3} more` : short.join(', ') || '-';
      };
      // the encryption column once the data plane holds keys (none: no data plane, encryption off, or none agreed yet);
      // the path column once a NAT is involved (a member behind NAT, or we are)
      const nat = rows.some((p) => p.path !== undefined && p.path !== 'direct');
      return table(['name', 'RLOCs', 'EIDs', 'registered', 'state', 'reachability', ...(nat ? ['path'] : []), ...(keys.length ? ['encryption'] : [])], rows.map((p) => [
        p.name ?? '-', p.rlocs.join(', '), eids(p.eids), p.lastRegistered === null ? '-' : `${ago(p.lastRegistered, now)} ago`,
        p.state, p.reachability, ...(nat ? [p.path] : []), ...(keys.length ? [cryptoCell(p.rlocs, keys)] : []),
      ]));
    }
    case 'conflicts': {
      const rows = data as ConflictRow[];
      if (rows.length === 0) return 'no refused registrations\n';
      return table(['when', 'from', 'xTR-ID', 'why'], rows.map((r) => [`${ago(r.at, now)} ago`, r.from, r.xtrId, r.message]));
    }
    case 'stats': {
      const c = data as CountersAnswer;
      const rows = [
        ...Object.entries(c.control).map(([k, v]) => ['control', k, String(v)]),
        ...Object.entries(c.dataplane).map(([k, v]) => ['dataplane', k, String(v)]),
        ...Object.entries(c.api ?? {}).map(([k, v]) => ['api', k, String(v)]),
      ];
      return table(['plane', 'counter', 'value'], rows);
    }
  }
}

/** `decent show stats`: the counters an operator looks at first, a line per concern. */
export function statsSummary(c: CountersAnswer): string {
  const k = c.control;
  const d = c.dataplane;
  const n = (name: string): number => k[name] ?? 0;
  /** Sum of the counters with this prefix, and the non-zero ones by their last part. */
  const group = (counters: Readonly<Record<string, number>>, test: (name: string) => boolean, strip: RegExp): [number, string] => {
    const hits = Object.entries(counters).filter(([name, v]) => test(name) && v > 0);
    const total = hits.reduce((s, [, v]) => s + v, 0);
    return [total, hits.map(([name, v]) => `${name.replace(strip, '')} ${v}`).join(', ')];
  };
  const [rejected, rejectedBy] = group(k, (x) => x.startsWith('register.rejected.'), /^register\.rejected\./);
  const [errors, errorsBy] = group(k, (x) => ['control.malformed', 'control.unexpected', 'request.rate-limited', 'her.rejected', 'notify.rejected.auth'].includes(x), /^$/);
  const [drops, dropsBy] = group(d, (x) => /^drop[A-Z]/.test(x) || x === 'missDropped', /^drop/);
  const mb = (b: number | undefined): string => `${((b ?? 0) / 1e6).toFixed(1)} MB`;
  const rows: [string, string][] = [
    ['registrations', `sent ${n('register.sent')}, received ${n('register.received')}, accepted ${n('register.accepted')}, rejected ${rejected}${rejectedBy ? ` (${rejectedBy})` : ''}`],
    ['Map-Notify', `sent ${n('notify.sent')}, received ${n('notify.received')}`],
    ['lookups', `Map-Requests received ${n('request.received')}, sent ${n('request.sent')}; Map-Replies sent ${n('reply.sent')} (negative ${n('reply.negative.sent')}), received ${n('reply.received')}`],
    ['replication', `head-end copies sent ${n('her.sent')}, received ${n('her.received')}`],
    ['RLOC probes', `sent ${n('probe.sent')}, answered ${n('probe.received')}`],
    ['control errors', `${errors}${errorsBy ? ` (${errorsBy})` : ''}`],
  ];
  if (Object.keys(d).length) {
    rows.push(
      ['data plane', `out ${d.encapPackets ?? 0} packets (${mb(d.encapBytes)}), in ${d.decapPackets ?? 0} packets (${mb(d.decapBytes)}), misses ${d.missPackets ?? 0}`],
      ['data drops', `${drops}${dropsBy ? ` (${dropsBy})` : ''}`],
    );
  } else {
    rows.push(['data plane', 'none (control-plane node)']);
  }
  const hints: string[] = [];
  if (n('register.rejected.auth') > 0) hints.push('registrations failed authentication: a member uses another auth key (or another algorithm)');
  if (n('register.sent') > 0 && n('register.received') === 0) hints.push('no member has registered to us: check decent.seeds, the group address and the key');
  const width = Math.max(...rows.map(([a]) => a.length));
  return `${rows.map(([a, b]) => `${a.padEnd(width)}  ${b}`).join('\n')}\n${hints.map((h) => `hint: ${h}\n`).join('')}(decent show stats --all lists every counter)\n`;
}
