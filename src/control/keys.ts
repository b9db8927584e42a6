// LISP-crypto key state and exchange (RFC 8061 §3, §6), per (our RLOC, peer RLOC) pair.
//
// The ITR sends its public key in the ITR-RLOC Security Key LCAF of an RLOC-probe sent straight to
// the ETR's RLOC (never to a Map-Resolver: in push mode replies come from the local site cache,
// which cannot answer for the ETR's key); the ETR derives its decapsulation keys, installs them and
// answers with its own key in the Map-Reply's RLOC-record; the ITR then derives and switches its
// encapsulation keys. Each exchange uses the next key-id (1 → 2 → 3 → 1) so the ETR holds the old
// and the new key while the ITR switches: a rekey loses nothing.
//
// Beyond the RFC, keys are bound to the group: every member registers its long-term X25519
// public key (Security Key LCAF in its RLOC-records, inside HMAC-authenticated Map-Registers), and
// a key offered in an exchange is accepted only when it equals the key the site cache holds for
// that RLOC. An attacker without the group key can neither register a key nor get one accepted.
// Peers that register no key (lispers.net) fall back to plain RFC 8061 unless encryption is
// `required`.
import { isIPv4 } from 'node:net';
import {
  checkSuite, deriveTrafficKeys, generateKeyPair, keyPairFromPrivate, SUITE_CHACHA, SUPPORTED_SUITES,
  type CryptoVariant, type KeyEvent, type X25519KeyPair,
} from '../crypto';
import { encodeControl, type MapReply, type MapRequest, type SecurityKeyLcaf } from '../wire';
import type { NodeContext } from './context';
import { locatorIp, locatorSecurityKey, securityKeyLcaf } from './locators';
import { RTR_PRIORITY } from './rtr';
import { mapRequest, randomNonce } from './messages';
import { CONTROL_PORT } from './ports';
import type { Eid } from '../mapping/eid';

export type EncryptionMode = 'required' | 'preferred' | 'off';

export interface CryptoConfig {
  /** `required`: no key, no traffic; `preferred`: encrypt where keys exist; `off`: no exchange. */
  readonly mode: EncryptionMode;
  /** Our long-term X25519 private key (32 bytes); a fresh one per start when absent. */
  readonly privateKey?: Uint8Array;
  /** Suites we offer and accept, best first (default 6, then 5). */
  readonly suites?: readonly number[];
  /** Rekey after this long (default 1 h; RFC 8061 §6 leaves the period to the implementation). */
  readonly rekeyMs?: number;
  /** Rekey after this many packets under one key (default 2^32); the data plane reports counts. */
  readonly rekeyPackets?: number;
}

export type { KeyEvent } from '../crypto';

export const DEFAULT_REKEY_MS = 3_600_000;
export const DEFAULT_REKEY_PACKETS = 2 ** 32;
/** How often pairs are checked (retries, rekeys, peers gone). */
const TICK_MS = 1_000;
/** An unanswered exchange is retried after this long, doubling up to a minute. */
const RETRY_MS = 1_000;
/**
 * A rekey's new send key is used this long after the ETR's reply: the ETR installs its decap key
 * before it replies, but in its control worker; the main thread that opens packets applies it a
 * message later, and under a busy packet loop packets sealed at once under the new key-id arrived
 * first and were dropped as unknown (38 in a 4 MiB transfer). The old key stays valid meanwhile
 * (the ETR keeps the previous generation), so waiting costs nothing.
 */
const REKEY_SWITCH_MS = 50;
const RETRY_MAX_MS = 60_000;
/** Pairs held at most (one per map-cache RLOC); beyond it new pairs are refused and counted. */
const MAX_PAIRS = 4096;
/** The registered-key index is rebuilt at most this often: key-carrying probes cannot make us scan the site cache per packet. */
const REGISTERED_KEYS_MAX_AGE_MS = 250;

/**
 * Registered keys (hex) per RLOC, each RLOC's first registered suite, and the RTRs (priority 254)
 * registered with an RLOC of a member behind NAT, from one site-cache scan.
 */
interface RegisteredIndex { at: number; keys: Map<string, Set<string>>; suites: Map<string, number>; rtrs: Map<string, string[]> }

interface Slot {
  suite: number; variant: CryptoVariant; encryptKey: Buffer; icvKey: Buffer; installedAt: number;
  /** Decap: packets the data plane opened under it (its report), and when that count last grew. */
  opened: number; usedAt: number;
  /** Decap: the exchange it came from (the ITR's Map-Request nonce and public key, hex). */
  from?: { nonce: bigint; peerKey: string };
}

interface Pair {
  readonly local: string;
  readonly peer: string;
  /** Our current encapsulation key-id (0: none yet). */
  encapKeyId: number;
  encap: Map<number, Slot>;
  decap: Map<number, Slot>;
  /** The exchange in flight: its nonce, key-id, when it was sent, and the retry delay. */
  pending?: { nonce: bigint; keyId: number; suite: number; sentAt: number; eid: Eid };
  /** A rekey answered, its new send key not used yet (REKEY_SWITCH_MS): no other exchange starts meanwhile. */
  switchTimer?: unknown;
  retryMs: number;
  packets: number;
  /** The peer key the current encap keys came from (a registration change wipes them). */
  peerKey?: string;
}

export interface PairStatus {
  readonly localRloc: string;
  readonly peerRloc: string;
  readonly encapKeyId: number;
  readonly suite?: number;
  readonly keyAgeMs?: number;
  readonly decapKeyIds: readonly number[];
  readonly pending: boolean;
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class KeyExchange {
  private readonly pairs = new Map<string, Pair>();
  private readonly keyPair: X25519KeyPair;
  private timer: unknown;
  /** Registered keys per RLOC (hex), and the suite each RLOC registered first (its preference). */
  private registeredCache?: RegisteredIndex;

  constructor(private readonly ctx: NodeContext, private readonly config: CryptoConfig) {
    this.keyPair = config.privateKey ? keyPairFromPrivate(config.privateKey) : generateKeyPair();
  }

  get enabled(): boolean {
    return this.config.mode !== 'off';
  }

  /** Our long-term public key: registered with our RLOCs and sent in every exchange. */
  get publicKey(): Uint8Array {
    return this.keyPair.publicKey;
  }

  /** The suite we offer first. */
  get preferredSuite(): number {
    return this.suites('rfc')[0] ?? SUPPORTED_SUITES.rfc[0];
  }

  /** The Security Key LCAF for one of our RLOCs in our Map-Registers (group binding). */
  registeredKey(ip: string): SecurityKeyLcaf | undefined {
    return this.enabled ? securityKeyLcaf(ip, this.preferredSuite, this.keyPair.publicKey) : undefined;
  }

  start(): void {
    if (!this.enabled) return;
    const tick = (): void => {
      this.tick();
      this.timer = this.ctx.env.setTimeout(tick, TICK_MS);
    };
    this.timer = this.ctx.env.setTimeout(tick, 0);
  }

  /** Stops and wipes every key (the data plane is told to drop them). */
  stop(): void {
    if (this.timer !== undefined) this.ctx.env.clearTimeout(this.timer);
    this.timer = undefined;
    for (const p of [...this.pairs.values()]) this.wipe(p, 'stop');
  }

  /**
   * The data plane's count of packets sealed to `peerRloc` under key-id `keyId` (absolute, as its
   * key table counts them; reported in batches, about once a second): the packet-count rekey
   * trigger (RFC 8061 §6 leaves the rekey policy to the implementation; an AEAD key must never
   * reuse an IV, and the IV counter is 64 bits but we rekey at 2^32 like the issue asks). A count
   * for another key-id than the pair's current one (sealed before a switch) is ignored.
   */
  packetsSent(peerRloc: string, keyId: number, sealed: number): void {
    const local = this.localFor(peerRloc);
    const p = local === undefined ? undefined : this.pairs.get(`${local}>${peerRloc}`);
    if (!p || p.encapKeyId !== keyId || p.pending || p.switchTimer !== undefined) return;
    p.packets = sealed;
    // at the limit: rekey now rather than at the next tick
    if (sealed >= (this.config.rekeyPackets ?? DEFAULT_REKEY_PACKETS)) this.tick();
  }

  /**
   * The data plane's count of packets opened from `peerRloc` under our decap key `keyId`: a key
   * whose count grows is in use, whatever its age (the peer's ITR rekeys on its own period).
   */
  packetsOpened(peerRloc: string, keyId: number, opened: number): void {
    const local = this.localFor(peerRloc);
    const s = local === undefined ? undefined : this.pairs.get(`${local}>${peerRloc}`)?.decap.get(keyId);
    if (!s || s.opened === opened) return;
    s.opened = opened;
    s.usedAt = this.ctx.env.now();
  }

  status(): PairStatus[] {
    const now = this.ctx.env.now();
    return [...this.pairs.values()].map((p) => {
      const cur = p.encap.get(p.encapKeyId);
      return {
        localRloc: p.local, peerRloc: p.peer, encapKeyId: p.encapKeyId, suite: cur?.suite,
        keyAgeMs: cur ? now - cur.installedAt : undefined, decapKeyIds: [...p.decap.keys()], pending: p.pending !== undefined,
      };
    });
  }

  private suites(variant: CryptoVariant): number[] {
    const wanted = this.config.suites ?? SUPPORTED_SUITES.rfc.slice(0, 2);
    return wanted.filter((s) => SUPPORTED_SUITES[variant].includes(s));
  }

  private pair(local: string, peer: string): Pair | undefined {
    const k = `${local}>${peer}`;
    let p = this.pairs.get(k);
    if (!p) {
      if (this.pairs.size >= MAX_PAIRS) {
        this.ctx.count('crypto.rejected.limit');
        return undefined;
      }
      // Our RLOC for this peer changed (roaming, behind a NAT now, another translated address):
      // the old pair is forgotten without telling the data plane, whose key sets are per peer
      // RLOC and shared with the new pair: its removals would take the new pair's key-ids. The new
      // pair's installs replace its keys there.
      for (const q of [...this.pairs.values()]) if (q.peer === peer && q.local !== local) this.forget(q);
      p = { local, peer, encapKeyId: 0, encap: new Map(), decap: new Map(), retryMs: RETRY_MS, packets: 0 };
      this.pairs.set(k, p);
    }
    return p;
  }

  /**
   * The keys registered (in authenticated registrations) per RLOC, as hex, and the suite each RLOC
   * registered first: one scan of the site cache. A peer with none registered no key (a
   * lispers.net node, or a decent node with encryption off).
   */
  private registered(fresh = false): RegisteredIndex {
    const now = this.ctx.env.now();
    const cached = this.registeredCache;
    if (!fresh && cached && now - cached.at < REGISTERED_KEYS_MAX_AGE_MS && now >= cached.at) return cached;
    const out = new Map<string, Set<string>>();
    const suites = new Map<string, number>();
    const rtrs = new Map<string, string[]>();
    this.registeredCache = { at: now, keys: out, suites, rtrs };
    for (const entry of this.ctx.siteCache.all()) {
      for (const reg of entry.registrations.values()) {
        if (!reg.authenticated) continue;
        const via = reg.locators.filter((l) => l.priority === RTR_PRIORITY).map((l) => locatorIp(l.address)).filter((ip): ip is string => ip !== undefined);
        for (const l of reg.locators) {
          const at = locatorIp(l.address);
          if (via.length > 0 && at !== undefined && l.priority < RTR_PRIORITY && !rtrs.has(at)) rtrs.set(at, via);
          const k = locatorSecurityKey(l.address);
          const ip = locatorIp(l.address);
          if (!k?.keys.length || ip === undefined) continue;
          let set = out.get(ip);
          if (!set) out.set(ip, (set = new Set()));
          set.add(hexOf(k.keys[k.keys.length - 1]));
          if (!suites.has(ip)) suites.set(ip, k.cipherSuite);
        }
      }
    }
    return this.registeredCache;
  }

  /**
   * The suite the ITR offers a peer. Both sides prefer the same: that one. Otherwise ChaCha20-
   * Poly1305 when the peer registered it first (a CPU without AES instructions, e.g. a Raspberry
   * Pi 4, where AES-GCM would cost it several times more) and we accept it; else our first.
   */
  private offerSuite(variant: CryptoVariant, peer: string): number | undefined {
    const ours = this.suites(variant);
    if (variant !== 'rfc') return ours[0];
    const theirs = this.registered().suites.get(peer);
    if (theirs === SUITE_CHACHA && ours.includes(SUITE_CHACHA)) return SUITE_CHACHA;
    return ours[0];
  }

  private registeredPeerKeys(peer: string, fresh = false): Set<string> {
    return this.registered(fresh).keys.get(peer) ?? new Set();
  }

  /**
   * Whether to accept `offered` from `peer`, and with which derivation: a registered key must
   * match (group binding); without one, plain RFC 8061 (lispers' variant under lispers-compat),
   * unless encryption is required.
   */
  private admit(peer: string, offered: Uint8Array): CryptoVariant | undefined {
    // A recent index may confirm a match; a refusal or a fallback is decided on a fresh scan (a key
    // registered a moment ago must not count as absent).
    let registered = this.registeredPeerKeys(peer);
    if (!registered.has(hexOf(offered))) registered = this.registeredPeerKeys(peer, true);
    if (registered.size > 0) {
      if (registered.has(hexOf(offered))) return 'rfc';
      this.ctx.count('crypto.rejected.mismatch');
      this.ctx.env.log('warn', 'LISP-crypto key does not match the key the peer registered: refused', { peer });
      return undefined;
    }
    if (this.config.mode === 'required') {
      this.ctx.count('crypto.rejected.unbound');
      this.ctx.env.log('warn', 'LISP-crypto key from a peer that registered none: refused (dataplane.encryption: required)', { peer });
      return undefined;
    }
    return this.ctx.config.lispers ? 'lispers' : 'rfc';
  }

  private emit(action: KeyEvent['action'], direction: KeyEvent['direction'], p: Pair, keyId: number, s: Slot): void {
    this.ctx.env.cryptoKeysChanged?.({
      action, direction, localRloc: p.local, peerRloc: p.peer, keyId, suite: s.suite, variant: s.variant,
      encryptKey: action === 'install' ? s.encryptKey : Buffer.alloc(0), icvKey: action === 'install' ? s.icvKey : Buffer.alloc(0),
    });
  }

  private install(p: Pair, direction: 'encap' | 'decap', keyId: number, slot: Slot): void {
    const slots = direction === 'encap' ? p.encap : p.decap;
    const old = slots.get(keyId);
    if (old) this.drop(p, direction, keyId, old);
    slots.set(keyId, slot);
    this.emit('install', direction, p, keyId, slot);
    this.ctx.count('crypto.keys.installed');
    // Keep the previous generation (packets in flight under it) and drop the one before.
    const stale = ((keyId + 3 - 2 - 1) % 3) + 1;
    const s = slots.get(stale);
    if (s && stale !== keyId) this.drop(p, direction, stale, s);
  }

  private drop(p: Pair, direction: 'encap' | 'decap', keyId: number, s: Slot): void {
    (direction === 'encap' ? p.encap : p.decap).delete(keyId);
    this.emit('remove', direction, p, keyId, s);
    s.encryptKey.fill(0);
    s.icvKey.fill(0);
  }

  /** Revoke: every key of a pair is wiped and the data plane told. */
  private wipe(p: Pair, why: string): void {
    for (const [id, s] of [...p.encap]) this.drop(p, 'encap', id, s);
    for (const [id, s] of [...p.decap]) this.drop(p, 'decap', id, s);
    p.encapKeyId = 0;
    p.pending = undefined;
    if (p.switchTimer !== undefined) this.ctx.env.clearTimeout(p.switchTimer);
    p.switchTimer = undefined;
    this.pairs.delete(`${p.local}>${p.peer}`);
    this.ctx.env.log('debug', 'LISP-crypto keys wiped', { peer: p.peer, why });
  }

  /** A pair replaced by one with another local RLOC (pair()): key bytes wiped here, the data plane not told. */
  private forget(p: Pair): void {
    for (const s of [...p.encap.values(), ...p.decap.values()]) { s.encryptKey.fill(0); s.icvKey.fill(0); }
    if (p.switchTimer !== undefined) this.ctx.env.clearTimeout(p.switchTimer);
    this.pairs.delete(`${p.local}>${p.peer}`);
  }

  /** We no longer send to the peer: our encap keys are wiped, its decap keys (our ETR side) stay. */
  private forgetEncap(p: Pair): void {
    for (const [id, s] of [...p.encap]) this.drop(p, 'encap', id, s);
    p.encapKeyId = 0;
    p.pending = undefined;
    p.packets = 0;
    p.retryMs = RETRY_MS;
    p.peerKey = undefined;
    this.ctx.env.log('debug', 'LISP-crypto send keys wiped', { peer: p.peer, why: 'peer left the map-cache and the site cache' });
  }

  // -------------------------------------------------------------------------------------------
  // ETR side

  /**
   * A Map-Request whose first ITR-RLOC carries a key, sent to us directly (an RLOC-probe): derive
   * and install our decapsulation keys and return the Security Key LCAF for our reply's RLOC-record
   * (undefined: refused, the reply goes without a key and the ITR sends nothing encrypted).
   */
  onRequest(m: MapRequest, itrIp: string): { localRloc: string; key: SecurityKeyLcaf } | undefined {
    if (!this.enabled) return undefined;
    const offered = m.itrRlocs.length ? locatorSecurityKey(m.itrRlocs[0]) : undefined;
    if (!offered || offered.keys.length === 0) return undefined;
    this.ctx.count('crypto.exchange.received');
    const local = this.localFor(itrIp);
    if (!local) return undefined;
    const keyId = Math.min(offered.keys.length, 3);
    const peerPublic = offered.keys[keyId - 1];
    const variant = this.admit(itrIp, peerPublic);
    if (!variant) return undefined;
    if (!this.suites(variant).includes(offered.cipherSuite)) {
      const c = checkSuite(offered.cipherSuite, variant);
      this.ctx.count('crypto.rejected.suite');
      this.ctx.env.log('warn', 'LISP-crypto cipher suite refused', { peer: itrIp, error: c.ok ? `suite ${offered.cipherSuite} not enabled` : c.error });
      return undefined;
    }
    const d = deriveTrafficKeys({
      variant, suite: offered.cipherSuite, privateKey: this.keyPair.privateKey, ownPublic: this.keyPair.publicKey,
      peerPublic, itrNonce: m.nonce,
    });
    if (!d.ok) {
      this.ctx.count('crypto.rejected.key');
      this.ctx.env.log('warn', 'LISP-crypto key refused', { peer: itrIp, error: d.error });
      return undefined;
    }
    const p = this.pair(local, itrIp);
    if (!p) return undefined;
    // A retry of an exchange we already installed (same nonce and key: the ITR resends its
    // request unchanged) is answered without reinstalling, so a late or reordered copy never
    // replaces a newer key of that key-id with an older one.
    const have = p.decap.get(keyId), peerKey = hexOf(peerPublic);
    if (have && have.from?.nonce === m.nonce && have.from.peerKey === peerKey && have.suite === offered.cipherSuite) {
      d.keys.encryptKey.fill(0);
      d.keys.icvKey.fill(0);
      this.ctx.count('crypto.exchange.repeated');
    } else {
      this.install(p, 'decap', keyId, {
        suite: offered.cipherSuite, variant, encryptKey: d.keys.encryptKey, icvKey: d.keys.icvKey, installedAt: this.ctx.env.now(), opened: 0,
        usedAt: this.ctx.env.now(), from: { nonce: m.nonce, peerKey },
      });
    }
    return { localRloc: local, key: securityKeyLcaf(local, offered.cipherSuite, this.keyPair.publicKey, keyId) };
  }

  // -------------------------------------------------------------------------------------------
  // ITR side

  /** A Map-Reply: ours when it answers an exchange we sent to `src`. Returns whether it was. */
  onReply(m: MapReply, src: string): boolean {
    const p = [...this.pairs.values()].find((x) => x.pending?.nonce === m.nonce);
    if (!p || !p.pending) return false;
    if (p.peer !== src) {
      this.ctx.count('crypto.reply.unmatched');
      return true;
    }
    const pending = p.pending;
    p.pending = undefined;
    this.ctx.count('crypto.exchange.answered');
    const key = m.records.flatMap((r) => r.locators).map((l) => l.address)
      .filter((a) => locatorIp(a) === p.peer).map(locatorSecurityKey).find((k) => k !== undefined && k.keys.length > 0);
    if (!key) {
      this.ctx.count('crypto.rejected.nokey');
      return true;
    }
    const peerPublic = key.keys[Math.min(key.keys.length, pending.keyId) - 1];
    const variant = this.admit(p.peer, peerPublic);
    if (!variant) return true;
    const d = deriveTrafficKeys({
      variant, suite: key.cipherSuite, privateKey: this.keyPair.privateKey, ownPublic: this.keyPair.publicKey,
      peerPublic, itrNonce: pending.nonce,
    });
    if (!d.ok || key.cipherSuite !== pending.suite) {
      this.ctx.count('crypto.rejected.key');
      this.ctx.env.log('warn', 'LISP-crypto reply refused', { peer: p.peer, error: d.ok ? `suite ${key.cipherSuite} is not the one offered` : d.error });
      return true;
    }
    const previous = p.encapKeyId;
    p.retryMs = RETRY_MS;
    p.peerKey = hexOf(peerPublic);
    const switchTo = (): void => {
      this.install(p, 'encap', pending.keyId, { suite: key.cipherSuite, variant, encryptKey: d.keys.encryptKey, icvKey: d.keys.icvKey, installedAt: this.ctx.env.now(), opened: 0, usedAt: this.ctx.env.now() });
      p.encapKeyId = pending.keyId;
      p.packets = 0;
    };
    if (previous === 0) {
      // The first key: packets wait for it in the miss queue, so it is used at once.
      switchTo();
      return true;
    }
    this.ctx.count('crypto.rekey');
    p.switchTimer = this.ctx.env.setTimeout(() => {
      p.switchTimer = undefined;
      if (this.pairs.get(`${p.local}>${p.peer}`) === p && p.encapKeyId === previous) switchTo();
    }, REKEY_SWITCH_MS);
    return true;
  }

  /**
   * Our RLOC for an exchange with `peer` (same family): behind a NAT the translated one we
   * registered, which is who the peer knows us as, binds our key and answers to (outbound from
   * behind the NAT, so its replies come back through the same mapping).
   */
  private localFor(peer: string): string | undefined {
    const v4 = isIPv4(peer);
    return this.ctx.registeredRlocs.find((ip) => isIPv4(ip) === v4) ?? this.ctx.rlocs.find((ip) => isIPv4(ip) === v4);
  }

  /**
   * Sends an exchange to `p.peer`. A member behind NAT (registered with RTRs at priority 254)
   * cannot be reached at its translated 4342: the request goes ECM'd to its first RTR, which
   * relays it through the member's NAT binding (rtr.ts relayRequest); the member answers us
   * directly. As that RTR ourselves, our control sender uses the binding (node.ts).
   */
  private sendExchange(p: Pair, req: MapRequest): void {
    if (!this.viaRtr(p.peer, CONTROL_PORT, req)) this.ctx.env.sendControl(p.peer, CONTROL_PORT, encodeControl(req));
  }

  /**
   * To a member behind NAT (registered with RTRs) whose RTR we are not: `m` goes ECM'd to its
   * first RTR (inner header from our RLOC to it, `port`), which relays it through the member's
   * NAT binding (rtr.ts relayRequest). Used for exchanges, and by the Map-Resolver for the reply
   * to an exchange from an ITR behind NAT (whose NAT lets in nothing from us directly). False:
   * the peer is reached directly.
   */
  viaRtr(peer: string, port: number, m: MapRequest | MapReply): boolean {
    const rtr = this.registered().rtrs.get(peer)?.find((r) => isIPv4(r) === isIPv4(peer) && !this.ctx.rlocs.includes(r));
    const local = this.localFor(peer);
    if (rtr === undefined || local === undefined) return false;
    this.ctx.env.sendControl(rtr, CONTROL_PORT, encodeControl({
      type: 'ecm', security: false, ddt: false, message: m,
      inner: {
        version: isIPv4(local) ? 4 : 6, source: local, destination: peer, ttl: 64, tos: 0, id: 0,
        fragment: 0, flowLabel: 0, sourcePort: CONTROL_PORT, destinationPort: port,
      },
    }));
    this.ctx.count('crypto.exchange.via-rtr');
    return true;
  }

  /** Sends the exchange for a pair: an RLOC-probe with our key as ITR-RLOC, straight to the peer (or through its RTR). */
  private exchange(p: Pair, eid: Eid, variant: CryptoVariant): void {
    // A retry resends the pending exchange unchanged (nonce, key-id, suite): the keys both ends
    // derive stay the same whichever copy arrives, or answers, last (the network may reorder them).
    const retry = p.pending;
    const suite = retry?.suite ?? this.offerSuite(variant, p.peer);
    if (suite === undefined) return;
    // lispers keeps a single key (key-id 1) and never rekeys with another id.
    const keyId = retry?.keyId ?? (variant === 'lispers' ? 1 : p.encapKeyId === 0 ? 1 : (p.encapKeyId % 3) + 1);
    const nonce = retry?.nonce ?? randomNonce();
    const req = mapRequest({ nonce, itrRloc: p.local, eid, probe: true, lispersPad: this.ctx.config.lispers });
    const withKey: MapRequest = { ...req, itrRlocs: [{ kind: 'lcaf', lcaf: securityKeyLcaf(p.local, suite, this.keyPair.publicKey, keyId) }] };
    p.pending = { nonce, keyId, suite, sentAt: this.ctx.env.now(), eid: retry?.eid ?? eid };
    this.sendExchange(p, withKey);
    this.ctx.count('crypto.exchange.sent');
  }

  /** Starts missing exchanges, retries lost ones, rekeys old keys and wipes pairs whose peer went. */
  private tick(): void {
    const { ctx } = this;
    const now = ctx.env.now();
    const peers = new Map<string, Eid>();
    for (const mc of ctx.mapCache.all()) {
      if (mc.negative || mc.source === 'group') continue;
      // an RTR in a route is not the ETR of its EID (the relay target at 255 is): the exchange
      // with the RTR names an EID of its own, from its registration below
      for (const r of mc.rlocs) if (r.priority !== RTR_PRIORITY && !ctx.rlocs.includes(r.address) && !ctx.registeredRlocs.includes(r.address) && !peers.has(r.address)) peers.set(r.address, mc.eid);
    }
    const registeredAll = this.registered().keys;
    // Members that registered a key get an exchange as soon as their registration is here, not
    // at their first packet: under `required` a packet to a peer without keys is dropped, so the
    // first one would be lost (and a ping that sends one would fail). The probe names an EID the
    // member registered, which its ETR answers for.
    for (const entry of ctx.siteCache.all()) {
      if (entry.key === ctx.groupKey) continue;
      for (const reg of entry.registrations.values()) {
        if (!reg.authenticated) continue;
        for (const l of reg.locators) {
          const ip = locatorIp(l.address);
          if (ip !== undefined && l.priority !== RTR_PRIORITY && registeredAll.has(ip) && !ctx.rlocs.includes(ip) && !ctx.registeredRlocs.includes(ip) && !peers.has(ip)) peers.set(ip, entry.eid);
        }
      }
    }
    const none = new Set<string>();
    const rekeyMs = this.config.rekeyMs ?? DEFAULT_REKEY_MS;
    // A decap key belongs to the peer's ITR, which rekeys on its own period (RFC 8061 §6 leaves it
    // to each end): one that opened nothing for two default periods (or two of ours, if longer)
    // is no longer used, and goes, so departed peers do not fill the key table.
    const decapIdleMs = 2 * Math.max(rekeyMs, DEFAULT_REKEY_MS) + RETRY_MAX_MS;
    for (const p of [...this.pairs.values()]) {
      for (const [id, s] of [...p.decap]) if (now - s.usedAt > decapIdleMs) this.drop(p, 'decap', id, s);
      const registered = registeredAll.get(p.peer) ?? none;
      const keyGone = p.peerKey !== undefined && registered.size > 0 && !registered.has(p.peerKey);
      if (keyGone) this.wipe(p, 'peer registered another key');
      // Gone from the map-cache and the site cache (in pull mode a map-cache clear or expiry does
      // it): we stop sending to it, but its ITR may still send to us under our decap keys, so only
      // the encap side goes.
      else if (!peers.has(p.peer) && (p.encap.size > 0 || p.pending !== undefined)) this.forgetEncap(p);
      if (p.encap.size === 0 && p.pending === undefined && p.decap.size === 0) this.pairs.delete(`${p.local}>${p.peer}`);
    }
    for (const [peer, eid] of peers) {
      const local = this.localFor(peer);
      if (!local) continue;
      const variant: CryptoVariant = !registeredAll.has(peer) && ctx.config.lispers ? 'lispers' : 'rfc';
      const p = this.pair(local, peer);
      if (!p) continue;
      if (p.pending) {
        if (now - p.pending.sentAt < p.retryMs) continue;
        p.retryMs = Math.min(p.retryMs * 2, RETRY_MAX_MS);
        this.exchange(p, eid, variant);
        continue;
      }
      if (p.switchTimer !== undefined) continue;
      const cur = p.encap.get(p.encapKeyId);
      const rekeyPackets = this.config.rekeyPackets ?? DEFAULT_REKEY_PACKETS;
      if (!cur) this.exchange(p, eid, variant);
      else if (variant === 'rfc' && (now - cur.installedAt >= rekeyMs || p.packets >= rekeyPackets)) this.exchange(p, eid, variant);
    }
  }

  /** Rekeys every pair now (operator request). */
  rekeyAll(): void {
    for (const p of this.pairs.values()) {
      const cur = p.encap.get(p.encapKeyId);
      if (cur) cur.installedAt = -Infinity;
    }
    this.tick();
  }
}
