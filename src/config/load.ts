// Loads and validates a node's YAML config. Every error names the file, the line, the key path
// and what was expected; unknown keys are errors. Secrets are read here and never logged.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Netmask } from 'netmask';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import { DEFAULT_TIMERS, type ControlConfig } from '../control/config';
import { defaultSuites, generateKeyPair, hasAesInstructions, privateKeyBytes, readCpuinfo } from '../crypto';
import type { DataPlaneConfig } from '../dataplane/types';
import { parseEid } from '../mapping/eid';
import { configSchema, type ConfigFile } from './schema';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

export interface LoadedConfig {
  readonly file: string;
  /** Things that load but probably are not what was meant (logged at start). */
  readonly warnings: readonly string[];
  readonly raw: ConfigFile;
  readonly control: ControlConfig;
  /** The data plane's config; undefined without a `dataplane` section (control-plane-only node). */
  readonly dataplane?: DataPlaneConfig;
  readonly rlocInterfaces: readonly string[];
  readonly apiSocket: string;
}

function locate(doc: Document, lc: LineCounter, keyPath: readonly PropertyKey[], atKey = false): string {
  if (atKey && keyPath.length) {
    // An unknown key: point at the key itself, not its value.
    const parent = keyPath.length === 1 ? doc.contents : doc.getIn(keyPath.slice(0, -1) as (string | number)[], true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === keyPath[keyPath.length - 1]);
      if (pair && isNode(pair.key) && pair.key.range) {
        const { line, col } = lc.linePos(pair.key.range[0]);
        return `${line}:${col}`;
      }
    }
  }
  for (let n = keyPath.length; n >= 0; n--) {
    const node = doc.getIn(keyPath.slice(0, n) as (string | number)[], true);
    if (isNode(node) && node.range) {
      const { line, col } = lc.linePos(node.range[0]);
      return `${line}:${col}`;
    }
  }
  return '1:1';
}

export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => {
      const { line, col } = lc.linePos(e.pos[0]);
      return `${file}:${line}:${col}: YAML syntax: ${e.message.split('\n')[0]}`;
    }));
  }
  const parsed = configSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => {
      const keyPath = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]] : i.path;
      const where = keyPath.length ? keyPath.join('.') : '(top level)';
      return `${file}:${locate(doc, lc, keyPath, i.code === 'unrecognized_keys')}: ${where}: ${i.message}`;
    }));
  }
  const c = parsed.data;
  // Push mode binds keys to the group's registrations; pull mode has none to check them against,
  // so its default is RFC 8061's plain exchange where it succeeds (see README, Encryption).
  const encryption = c.dataplane ? c.dataplane.encryption ?? (c.decent.mode === 'pull' ? 'off' : 'required') : 'off';
  const key = readKey(c, file, env);
  const xtrId = c['xtr-id'] === 'auto' ? randomBytes(8).readBigUInt64BE(0) : BigInt(`0x${c['xtr-id'].replace(/^0x/, '')}`);
  const control: ControlConfig = {
    name: c.name,
    eids: c.eids.map((e) => parseEid(e, c.decent['instance-id'])),
    rlocs: c.rlocs.addresses,
    mode: c.decent.mode,
    pull: c.decent.pull && {
      modulus: c.decent.pull.modulus, dnsSuffix: c.decent.pull['dns-suffix'], hash: c.decent.pull.hash,
      lookupLengths: c.decent.pull['lookup-lengths'].map((l) => ({ range: parseEid(l.range, c.decent['instance-id']), length: l.length })),
      dnsRefreshMs: c.decent.pull['dns-refresh'],
    },
    // Pull mode has no group; the placeholder keeps the push-only code paths inert.
    group: { address: c.decent.group ?? '224.0.0.0', replication: c.decent.replication, seeds: c.decent.seeds, instanceId: c.decent['instance-id'] },
    auth: { key, keyId: c.auth['key-id'], algorithm: c.auth.algorithm === 'sha1' ? 1 : 2 },
    policy: {
      allowed: c.policy['allowed-prefixes'].map((e) => parseEid(e, c.decent['instance-id'])),
      acceptUnauthenticatedGroupJoins: c.policy['accept-unauthenticated-group-joins'],
      multihomedSites: c.policy['multihomed-sites'].map((s) => BigInt(s)),
    },
    limits: {
      eidsPerMember: c.limits['eids-per-member'], rlocsPerEid: c.limits['rlocs-per-eid'], members: c.limits.members, siteCache: c.limits['site-cache'],
    },
    timers: {
      ...DEFAULT_TIMERS,
      registerIntervalMs: c.timers['register-interval'],
      registrationTtlMs: c.timers['registration-ttl'],
      probeIntervalMs: c.timers['probe-interval'],
      mapReplyTtlMin: Math.max(1, Math.round(c.timers['map-reply-ttl'] / 60_000)),
    },
    xtrId,
    xtrIdAuto: c['xtr-id'] === 'auto',
    siteId: BigInt(c['site-id']),
    lispers: c.decent['lispers-compat'],
    nat: { keepaliveMs: c.nat.keepalive, rtr: c.nat.rtr },
    // The key exchange runs where a data plane can use its keys; a control-only node registers no key.
    crypto: {
      mode: encryption, privateKey: readCryptoKey(c, file), suites: c.crypto.suites ?? defaultSuites(hasAesInstructions(readCpuinfo())), rekeyMs: c.crypto.rekey,
      rekeyPackets: c.crypto['rekey-packets'],
    },
  };
  const iid = c.decent['instance-id'];
  const dataplane: DataPlaneConfig | undefined = c.dataplane && {
    tun: c.dataplane.tun, mtu: c.dataplane.mtu, offloads: c.dataplane.offloads, udpGso: c.dataplane['udp-gso'], localEids: control.eids, instanceId: iid,
    // Unprefixed EIDs belong to the node's instance-id, like the ones in `eids`.
    rlocs: control.rlocs, routes: (c.dataplane.routes ?? []).map((e) => parseEid(e, iid)),
    staticMapCache: c.dataplane['static-map-cache'].map((s) => ({ eid: parseEid(s.eid, iid), rlocs: s.rlocs })),
    encryption,
    ...(c.nat.rtr ? { rtr: true } : {}),
  };
  return {
    file, raw: c, control, dataplane, rlocInterfaces: c.rlocs.interfaces, warnings: hostBitWarnings(c, file),
    apiSocket: c.api.socket ?? `/run/decent/${c.name}.sock`,
  };
}

function readKey(c: ConfigFile, file: string, env: NodeJS.ProcessEnv): string {
  if (c.auth.key !== undefined) return c.auth.key;
  if (c.auth['key-env'] !== undefined) {
    const v = env[c.auth['key-env']];
    if (!v) throw new ConfigError([`${file}: auth.key-env: environment variable ${c.auth['key-env']} is not set`]);
    return v;
  }
  const keyFile = path.resolve(path.dirname(file), c.auth['key-file'] ?? '');
  try {
    const v = fs.readFileSync(keyFile, 'utf8').trim();
    if (!v) throw new ConfigError([`${file}: auth.key-file: ${keyFile} is empty`]);
    return v;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([`${file}: auth.key-file: cannot read ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
}

/**
 * The long-term X25519 private key (crypto.key-file: 32 bytes as 64 hex digits or base64), or a
 * fresh one: generated here, not in the control worker, so a worker restart keeps it.
 */
function readCryptoKey(c: ConfigFile, file: string): Uint8Array {
  const keyFile = c.crypto['key-file'];
  if (keyFile === undefined) return privateKeyBytes(generateKeyPair());
  const p = path.resolve(path.dirname(file), keyFile);
  let text: string;
  try {
    text = fs.readFileSync(p, 'utf8').trim();
  } catch (e) {
    throw new ConfigError([`${file}: crypto.key-file: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  if (!key || key.length !== 32) throw new ConfigError([`${file}: crypto.key-file: ${p} must hold a 32-byte X25519 private key (64 hex digits or base64)`]);
  return new Uint8Array(key);
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read the config file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return parseConfigText(text, file, env);
}

/** IPv4 prefixes written with host bits set (10.1.2.3/16): used as their network, but said. */
function hostBitWarnings(c: ConfigFile, file: string): string[] {
  const out: string[] = [];
  const check = (where: string, text: string): void => {
    const m = /^(?:\[\d+\])?(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(text.trim());
    if (!m) return;
    const block = new Netmask(`${m[1]}/${m[2]}`);
    if (block.base !== m[1]) out.push(`${file}: ${where}: ${text} has host bits set; using ${block.base}/${block.bitmask}`);
  };
  c.eids.forEach((e, i) => check(`eids.${i}`, e));
  c.policy['allowed-prefixes'].forEach((e, i) => check(`policy.allowed-prefixes.${i}`, e));
  (c.dataplane?.routes ?? []).forEach((e, i) => check(`dataplane.routes.${i}`, e));
  if (c.dataplane && c.dataplane['static-map-cache'].length && (c.dataplane.encryption ?? (c.decent.mode === 'pull' ? 'off' : 'required')) === 'required') {
    out.push(`${file}: dataplane.static-map-cache: static peers exchange no LISP-crypto keys, and with dataplane.encryption: required nothing is sent to them; set encryption: preferred or off for a static setup`);
  }
  return out;
}
