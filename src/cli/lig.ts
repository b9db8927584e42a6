// `decent lig EID`: asks the mapping system through a running node and prints the answer.
import { apiRequest, ApiClientError } from '../api/client';
import { toJson } from '../api/json';
import type { LookupAnswer } from '../api/types';
import { actionName, formatAddress } from '../wire';
import { UsageError, flagOption, stringOption, type Command } from './command';
import { SOCKET_OPTION, socketPath } from './show';

export const ligCommand: Command = {
  name: 'lig',
  summary: 'look an EID up in the mapping system and time the answer',
  operands: 'EID',
  minOperands: 1,
  maxOperands: 1,
  description: [
    "The running node sends an ECM-encapsulated Map-Request (RFC 9301 §5.8) for EID to a",
    'Map-Resolver and prints the Map-Reply and the time it took. The Map-Resolver: the member',
    "given with --to; else in push mode the node's own, in pull mode the EID's Map-Server set",
    "from DNS (RFC 9962 §5), asking the next address of the set when one gives no answer in time.",
    'EID: an address or prefix (10.1.2.3, [1000]10.0.0.0/8),',
    "a name ('nexus-n1') or a group ((0.0.0.0/0, 224.1.1.1/32)).",
    '',
    'A negative reply prints its action by name (RFC 9301 §5.4: no-action, natively-forward,',
    'send-map-request, drop). A negative prefix that does not cover the EID asked for is an',
    "answer about something else (a resolver's bug): lig warns.",
    '',
    'Exit status: 0 with an answer (also a negative one), 1 when none came.'
  ].join('\n'),
  options: [
    SOCKET_OPTION,
    { name: 'to', type: 'string', placeholder: 'RLOC', description: 'ask this Map-Resolver instead of the default' },
    { name: 'timeout', type: 'string', placeholder: 'MS', description: 'how long to wait (default 2000)' },
    { name: 'json', type: 'boolean', description: 'print JSON' },
  ],
  examples: ['lig 10.0.0.2', "lig \"'nexus-n3'\" --to 192.0.2.6", 'lig 10.1.0.0/16 --json'],
  async run(args, io) {
    const timeout = stringOption(args, 'timeout') ?? '2000';
    if (!/^\d+$/.test(timeout)) throw new UsageError(`--timeout takes milliseconds, got '${timeout}'`);
    const q = new URLSearchParams({ eid: args.positionals[0], timeout });
    const to = stringOption(args, 'to');
    if (to) q.set('resolver', to);
    let r: LookupAnswer;
    try {
      r = await apiRequest(socketPath(stringOption(args, 'socket')), 'GET', `/api/lookup?${q}`, Number(timeout) + 3000);
    } catch (e) {
      if (e instanceof ApiClientError) {
        io.err(`decent lig: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    if (flagOption(args, 'json')) {
      io.out(`${toJson(r, 2)}\n`);
      return 0;
    }
    io.out(`Map-Reply from ${r.from} for ${args.positionals[0]} in ${r.rttMs.toFixed(1)} ms (asked ${r.resolver})\n`);
    if (r.unanswered.length) io.out(`  no answer in time from ${r.unanswered.join(', ')} before\n`);
    r.reply.records.forEach((rec, i) => {
      const eidText = formatAddress(rec.eid, rec.eid.kind === 'name' ? undefined : rec.eidMaskLen);
      if (rec.locators.length === 0) {
        io.out(`  ${eidText}  negative, ${actionName(rec.action)}, TTL ${rec.ttl} min\n`);
        const s = r.summary[i];
        if (s && !s.coversAsked) {
          const asked = s.asked.replace(/^\[0\]/, '');
          io.err(`decent lig: warning: the negative prefix ${s.eid} does not cover ${asked}: the Map-Resolver answered for another EID, so this says nothing about ${asked}\n`);
        }
        return;
      }
      io.out(`  ${eidText}  TTL ${rec.ttl} min, ${rec.authoritative ? 'authoritative' : 'proxy reply'}\n`);
      for (const l of rec.locators) {
        io.out(`    ${formatAddress(l.address)}  priority ${l.priority} weight ${l.weight}${l.reachable ? ' up' : ' down'}${l.local ? ' local' : ''}${l.probed ? ' probed' : ''}\n`);
      }
    });
    return 0;
  },
};

