// `decent show site-cache|map-cache|database|peers|stats`: tables from a running node's API.
import { apiRequest, ApiClientError } from '../api/client';
import { toJson } from '../api/json';
import { actionName } from '../wire';
import type { CountersAnswer, DatabaseRow, MapCacheRow, SiteCacheRow } from '../api/types';
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

const WHAT = ['site-cache', 'map-cache', 'database', 'peers', 'stats'] as const;
type What = (typeof WHAT)[number];

export const showCommand: Command = {
  name: 'show',
  summary: 'show a running node\'s site cache, map-cache, database, peers or stats',
  operands: 'site-cache|map-cache|database|peers|stats',
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
    '  peers       the group members registrations are replicated to',
    '  stats       control and data plane counters',
  ].join('\n'),
  options: [SOCKET_OPTION, { name: 'json', type: 'boolean', description: 'print JSON instead of a table' }],
  examples: ['show site-cache', 'show map-cache --socket /run/decent/n1.sock', 'show stats --json'],
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
    io.out(render(what, data));
    return 0;
  },
};

function render(what: What, data: unknown): string {
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
        `${Math.round(Math.max(0, e.expiresAt - now) / 1000)}s`, ago(e.createdAt, now), String(e.packets), e.source,
      ]));
    }
    case 'database':
      return table(['EID', 'RLOCs'], (data as DatabaseRow[]).map((d) => [d.eid, d.rlocs.join(', ')]));
    case 'peers':
      return table(['member RLOC'], (data as string[]).map((p) => [p]));
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
