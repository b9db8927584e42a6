// The config file's schema: one YAML file per node. Every default lives here, in one place, and
// the README's config reference is written from it.
import { isIP, isIPv4 } from 'node:net';
import { DEFAULT_LIMITS } from '../control/config';
import { z } from 'zod';
import { EidError, isMulticastAddress, parseEid } from '../mapping/eid';

/** "250ms", "10s", "3m", "1h", or a number of seconds. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v * 1000);
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 250ms, 10s, 3m or 1h, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000);
});

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'expected an IPv4 or IPv6 address' });

const eidText = z.string().superRefine((s, ctx) => {
  try {
    parseEid(s);
  } catch (e) {
    if (e instanceof EidError) ctx.addIssue({ code: 'custom', message: e.message });
    else throw e;
  }
});

const interfaceName = z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'expected an interface name (1-15 characters)');

export const configSchema = z.strictObject({
  /** Node name; also the RLOC-name lispers peers see. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a name of letters, digits, _ . - (1-64)'),
  /** Own EIDs: prefixes, 'names' or [iid]-prefixed forms. */
  eids: z.array(eidText).min(1, 'a node needs at least one EID'),
  rlocs: z.strictObject({
    /** Interfaces whose addresses are RLOCs; watched, so a changed address re-registers at once. */
    interfaces: z.array(interfaceName).default([]),
    /** Fixed RLOC addresses. */
    addresses: z.array(ipAddress).default([]),
  }).refine((r) => r.interfaces.length + r.addresses.length > 0, { message: 'give rlocs.interfaces or rlocs.addresses' }),
  decent: z.strictObject({
    /** push: a group of members (RFC 9962 §4); pull: hashed DNS names (§5). */
    mode: z.enum(['push', 'pull']).default('push'),
    /** The mapping-system group G (RFC 9962 §4); push mode only. */
    group: ipAddress.refine(isMulticastAddress, { message: 'the group must be a multicast address' }).optional(),
    pull: z.strictObject({
      modulus: z.number().int().min(1).max(65535),
      'dns-suffix': z.string().regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, 'expected a DNS name such as map-server.example.com'),
      /** rfc: SHA-256 mod modulus; lispers: HMAC-SHA-256("lisp-decent"), 48 bits (lispers.net). */
      hash: z.enum(['rfc', 'lispers']).default('rfc'),
      'lookup-lengths': z.array(z.strictObject({ range: eidText, length: z.number().int().min(0).max(128) })).default([]),
      'dns-refresh': duration.default(30_000),
    }).optional(),
    replication: z.enum(['her', 'multicast']).default('her'),
    seeds: z.array(ipAddress).default([]),
    'instance-id': z.number().int().min(0).max(0xfffffe).default(0),
    'lispers-compat': z.boolean().default(false),
  }),
  auth: z.strictObject({
    key: z.string().min(1).optional(),
    'key-file': z.string().min(1).optional(),
    'key-env': z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
    'key-id': z.number().int().min(0).max(255).default(0),
    algorithm: z.enum(['sha256', 'sha1']).default('sha256'),
  }).refine((a) => [a.key, a['key-file'], a['key-env']].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of auth.key, auth.key-file, auth.key-env',
  }),
  policy: z.strictObject({
    'allowed-prefixes': z.array(eidText).default([]),
    'accept-unauthenticated-group-joins': z.boolean().default(false),
    /** Site-IDs whose xTRs may register the same EIDs (multihoming); other EIDs have one owner. */
    'multihomed-sites': z.array(z.number().int().min(1)).default([]),
  }).default({ 'allowed-prefixes': [], 'accept-unauthenticated-group-joins': false, 'multihomed-sites': [] }),
  limits: z.strictObject({
    'eids-per-member': z.number().int().min(1).default(DEFAULT_LIMITS.eidsPerMember),
    'rlocs-per-eid': z.number().int().min(1).max(255).default(DEFAULT_LIMITS.rlocsPerEid),
    members: z.number().int().min(2).default(DEFAULT_LIMITS.members),
    'site-cache': z.number().int().min(16).default(DEFAULT_LIMITS.siteCache),
  }).default({
    'eids-per-member': DEFAULT_LIMITS.eidsPerMember, 'rlocs-per-eid': DEFAULT_LIMITS.rlocsPerEid, members: DEFAULT_LIMITS.members,
    'site-cache': DEFAULT_LIMITS.siteCache,
  }),
  timers: z.strictObject({
    'register-interval': duration.default(60_000),
    'registration-ttl': duration.default(180_000),
    'probe-interval': duration.default(10_000),
    'map-reply-ttl': duration.default(900_000),
    'rloc-poll': duration.default(250),
    /** ICMP echo to map-cache RLOCs (raw-socket), for peers that ignore RLOC-probes; 0 = off. */
    'icmp-interval': duration.default(0),
  }).default({ 'register-interval': 60_000, 'registration-ttl': 180_000, 'probe-interval': 10_000, 'map-reply-ttl': 900_000, 'rloc-poll': 250, 'icmp-interval': 0 }),
  nat: z.strictObject({
    /** Info-Requests to the seeds (NAT detection and binding keepalive); 0 = off. */
    keepalive: duration.default(15_000),
    /** Offer to relay for members behind NAT (our RLOC in the RTR list of our Info-Replies). */
    rtr: z.boolean().default(false),
  }).default({ keepalive: 15_000, rtr: false }),
  'xtr-id': z.union([z.literal('auto'), z.string().regex(/^(0x)?[0-9a-fA-F]{1,32}$/, 'expected auto or up to 32 hex digits')]).default('auto'),
  'site-id': z.number().int().min(0).default(0),
  dataplane: z.strictObject({
    tun: interfaceName.default('decent0'),
    /**
     * 1408 = 22 × 64: with ChaCha20-Poly1305 (suite 6, the default) OpenSSL takes one more keystream
     * call for a last partial 64-byte block, so full-size packets of 1408 bytes cost 10 % less to
     * seal and open than 1400-byte ones (npm run bench:aead). It leaves room for the LISP headers
     * (36 bytes over IPv4, 56 over IPv6) and, over IPv4, a sealed datagram's growth in 1500.
     */
    mtu: z.number().int().min(576).max(65535).default(1408),
    offloads: z.boolean().default(true),
    /**
     * UDP GSO on send: off sends every datagram on its own (TUN offloads stay on), for receivers
     * that read the underlay with raw sockets and do no GRO (OOR).
     */
    'udp-gso': z.boolean().default(true),
    /** EID prefixes routed into the TUN; default: every EID learned from the group. */
    routes: z.array(eidText).optional(),
    'static-map-cache': z.array(z.strictObject({ eid: eidText, rlocs: z.array(ipAddress).min(1) })).default([]),
    /**
     * LISP-crypto (RFC 8061): required = nothing in clear between members (no key, no traffic);
     * preferred = encrypt where a key exchange succeeded, clear otherwise (mixed groups); off.
     * Default: required in push mode; off in pull mode for now (load.ts): pull mode has no group
     * registrations to bind keys to (preferred there is RFC 8061's unauthenticated exchange).
     */
    encryption: z.enum(['required', 'preferred', 'off']).optional(),
  }).optional(),
  crypto: z.strictObject({
    /** Our long-term X25519 private key (32 bytes: 64 hex digits or base64); absent = a new one per start. */
    'key-file': z.string().min(1).optional(),
    /**
     * Cipher suites offered and accepted, best first (RFC 8061 §5: 6 ChaCha20-Poly1305, 5
     * AES-128-GCM); absent: [5, 6] on a CPU with AES instructions, else [6, 5] (load.ts).
     */
    suites: z.array(z.union([z.literal(5), z.literal(6)])).min(1).optional(),
    /** Rekey after this long (RFC 8061 §6 leaves the period to the implementation). */
    rekey: duration.default(3_600_000),
    /** ... or after this many packets under one key, whichever comes first (low values are for tests). */
    'rekey-packets': z.number().int().min(1000).max(2 ** 32).default(2 ** 32),
  }).default({ rekey: 3_600_000, 'rekey-packets': 2 ** 32 }),
  api: z.strictObject({
    /** Unix socket for the CLI; default /run/decent/<name>.sock. */
    socket: z.string().min(1).optional(),
    /** host:port for the HTTP API and web UI; off by default. */
    http: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/, 'expected host:port').optional(),
    'token-file': z.string().min(1).optional(),
  }).default({}),
  log: z.strictObject({
    level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Levels per subsystem: control, dataplane, node, reachability. */
    subsystems: z.partialRecord(z.enum(['control', 'dataplane', 'node', 'reachability', 'api']), z.enum(['debug', 'info', 'warn', 'error'])).default({}),
  }).default({ level: 'info', subsystems: {} }),
}).superRefine((c, ctx) => {
  if (c.decent.mode === 'push' && !c.decent.group) ctx.addIssue({ code: 'custom', path: ['decent', 'group'], message: 'push mode needs the group address' });
  if (c.decent.mode === 'pull' && !c.decent.pull) ctx.addIssue({ code: 'custom', path: ['decent', 'pull'], message: 'pull mode needs decent.pull (modulus, dns-suffix)' });
  const http = c.api.http;
  if (http && !/^(127\.|\[::1\]|localhost)/.test(http) && !c.api['token-file']) {
    ctx.addIssue({ code: 'custom', path: ['api', 'http'], message: 'listening beyond this host needs an access token: give api.token-file' });
  }
  const v4 = isIPv4(c.decent.group ?? '224.0.0.0');
  if (c.rlocs.addresses.length && !c.rlocs.addresses.some((a) => isIPv4(a) === v4) && c.rlocs.interfaces.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['rlocs', 'addresses'], message: `no RLOC of the group's family (IPv${v4 ? 4 : 6})` });
  }
});

export type ConfigFile = z.output<typeof configSchema>;
