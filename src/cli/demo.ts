// `decent demo`: the seed's "LISP-Decent in Action", end to end on this machine.
import { toJson } from '../api/json';
import { runDemo } from '../testbed/demo';
import { runPullDemo } from '../testbed/demo-pull';
import { runNatDemo } from '../testbed/demo-nat';
import { flagOption, type Command } from './command';
import { table } from './table';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run three decent nodes in network namespaces and show them converge and roam',
  operands: '',
  minOperands: 0,
  maxOperands: 0,
  description: [
    'Needs root. Builds three network namespaces n1, n2, n3 on a bridge that does not forward',
    'multicast and runs a decent node in each: IPv4 EIDs 10.0.0.1, 10.0.0.2, 10.0.0.3 and name',
    "EIDs 'nexus-n1..3' in push group 224.1.1.1 with head-end replication, each node seeded",
    'with the next one. It waits until every site cache holds all six EIDs and the group',
    'entry with all three RLOCs, pings every EID from every node through the overlay, moves',
    "n2 to a new RLOC address and measures how long until n1's traffic to 10.0.0.2 flows",
    'again, prints the site caches and map-caches, and removes everything it created (also',
    'on Ctrl-C or failure).',
    '',
    'The overlay is encrypted (LISP-crypto, RFC 8061, dataplane.encryption: required, the',
    'default): before pinging, the demo waits until every node has agreed keys with both',
    'others and says how long that took.',
    '',
    '--control-only skips the data plane (no TUN, no pings); roaming is then measured on the',
    "site cache. --json prints one JSON object at the end.",
    '',
    '--pull shows pull mode instead: dnsmasq in a namespace publishes two Map-Server sets',
    '(0.ms.decent.demo, 1.ms.decent.demo) of two nodes each; four nodes register each EID to',
    'both servers of its hashed set, ping every EID through the overlay, then n1 is killed and',
    'the pings go again (lookups fail over to the other server of the set). Needs dnsmasq.',
    '',
    '--nat shows a member behind a NAT joining (README "Behind NAT"): alpha (public, the seed and',
    'RTR) and beta on a bridge, pi behind an nftables masquerade NAT. pi detects the NAT,',
    'registers its translated RLOC with alpha as RTR, and every pair pings, pi and beta',
    'through alpha, which re-encapsulates. Then pj joins behind a second NAT: first via alpha,',
    'then, once pi and pj answer each other\'s RLOC-probes through their NATs, directly (alpha',
    'relays none of their pings).',
    '',
    'Exit status: 0 when every check held, 1 otherwise.',
  ].join('\n'),
  options: [
    { name: 'json', type: 'boolean', description: 'print one JSON object with the results' },
    { name: 'control-only', type: 'boolean', description: 'run without data planes (no TUN, no pings)' },
    { name: 'pull', type: 'boolean', description: 'pull mode on a real DNS server (dnsmasq), with failover' },
    { name: 'nat', type: 'boolean', description: 'a member behind an nftables NAT joining through an RTR' },
  ],
  examples: ['demo', 'demo --json', 'demo --control-only', 'demo --pull', 'demo --nat'],
  async run(args, io) {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      io.err('decent demo: needs root (network namespaces): run it with sudo\n');
      return 1;
    }
    const json = flagOption(args, 'json');
    const started = Date.now();
    if (flagOption(args, 'nat')) {
      const n = await runNatDemo((line) => io.err(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`));
      if (json) {
        io.out(`${toJson(n)}\n`);
        return n.ok ? 0 : 1;
      }
      io.out(`\npi's EID as the group holds it: ${n.registered_rlocs.join(', ') || '-'}\n`);
      io.out(`\npings\n${table(['pair', 'ok'], Object.entries(n.pings).map(([k, v]) => [k, v ? 'yes' : 'NO']))}`);
      io.out(`\npaths\n${table(['node', 'peer', 'path'], Object.entries(n.paths).flatMap(([node, peers]) => Object.entries(peers).map(([peer, p]) => [node, peer, p])))}`);
      io.out(`\npj joining: pi -> pj ${n.paths_at_join['pi->pj'] ?? '-'}, then direct ${n.direct_ms ?? '-'} ms after pj was up; alpha relayed ${n.relayed_direct ?? '-'} of their packets\n`);
      io.out(`\nNAT detected ${n.detected_ms ?? '-'} ms, registered via the RTR ${n.registered_ms ?? '-'} ms after start; alpha relayed ${n.relayed} packets; ${n.ok ? 'all checks held' : 'FAILED'}\n`);
      for (const x of n.problems) io.out(`  problem: ${x}\n`);
      return n.ok ? 0 : 1;
    }
    if (flagOption(args, 'pull')) {
      const p = await runPullDemo((line) => io.err(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`));
      if (json) {
        io.out(`${toJson(p)}\n`);
        return p.ok ? 0 : 1;
      }
      io.out(`\nMap-Server sets in DNS\n${table(['name', 'addresses'], Object.entries(p.sets).map(([k, v]) => [k, v.join(', ')]))}`);
      io.out(`\nsite caches\n${table(['node', 'EIDs'], Object.entries(p.site_cache).map(([k, v]) => [k, v.join(', ') || '-']))}`);
      io.out(`\npings\n${table(['pair', 'ok'], Object.entries(p.pings).map(([k, v]) => [k, v ? 'yes' : 'NO']))}`);
      io.out(`\npings with n1 dead\n${table(['pair', 'ok'], Object.entries(p.failover_pings).map(([k, v]) => [k, v ? 'yes' : 'NO']))}`);
      io.out(`\nregistered in ${p.registered_ms ?? '-'} ms; ${p.ok ? 'all checks held' : 'FAILED'}\n`);
      for (const x of p.problems) io.out(`  problem: ${x}\n`);
      return p.ok ? 0 : 1;
    }
    const r = await runDemo({
      dataplane: !flagOption(args, 'control-only'),
      progress: (line) => io.err(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`),
    });
    if (json) {
      io.out(`${toJson(r)}\n`);
      return r.ok ? 0 : 1;
    }
    for (const [node, rows] of Object.entries(r.site_cache)) {
      io.out(`\n${node} site cache\n${table(['EID', 'RLOCs'], rows.map((x) => [x.eid, x.rlocs.join(', ')]))}`);
    }
    for (const [node, rows] of Object.entries(r.map_cache)) {
      io.out(`\n${node} map-cache\n${table(['EID', 'RLOCs'], rows.map((x) => [x.eid, x.rlocs.join(', ')]))}`);
    }
    if (Object.keys(r.pings).length) {
      io.out(`\npings\n${table(['pair', 'ok', 'rtt'], Object.entries(r.pings).map(([k, p]) => [k, p.ok ? 'yes' : 'NO', p.rtt_ms !== null ? `${p.rtt_ms} ms` : '-']))}`);
    }
    if (r.encryption !== null) io.out(`\noverlay encryption (LISP-crypto, RFC 8061): ${r.encryption === 'off' ? 'off' : `${r.encryption}, keys agreed ${r.keys_ms ?? '-'} ms after start`}\n`);
    io.out(`\nconverged in ${r.converged_ms ?? '-'} ms; roaming took ${r.roam_ms ?? '-'} ms; ${r.ok ? 'all checks held' : 'FAILED'}\n`);
    for (const p of r.problems) io.out(`  problem: ${p}\n`);
    return r.ok ? 0 : 1;
  },
};
