// Applies the control plane's LISP-crypto key events (src/crypto/key-event.ts) to the addon's key
// table (src/native/keys.ts): one send set per peer ETR RLOC holding our encapsulation keys, one
// receive set per peer ITR RLOC holding its decapsulation keys (the two directions have
// unrelated keys, RFC 8061 §6). The encap hook writes `txSet(dst)` into a slot's D.KEY; the decap
// path opens datagrams from `src` under `rxSet(src)`. 0 means no keys: under
// `dataplane.encryption: required` such packets wait or are dropped, never sent in clear.
import { checkSuite, type KeyEvent } from '../crypto';
import type { KeyTable } from '../native';

/** A set and, per key-id installed in it, when it was installed (ms since the epoch: the key's age in the web UI). */
interface SetState { readonly set: number; readonly keyIds: Map<number, number> }

export class PeerKeySets {
  private readonly tx = new Map<string, SetState>();
  private readonly rx = new Map<string, SetState>();
  /** Installs refused: the table was full, or the suite does not run in the data plane. Counted, logged by the caller. */
  refused = 0;

  constructor(private readonly table: KeyTable) {}

  /** The send key set for packets to `peerRloc` (0: none). */
  txSet(peerRloc: string): number {
    return this.tx.get(peerRloc)?.set ?? 0;
  }

  /** Every peer with keys: direction, peer RLOC, key set and the key-ids installed in it. */
  *peers(): IterableIterator<{ direction: 'encap' | 'decap'; peerRloc: string; set: number; keyIds: readonly number[]; installedAt: ReadonlyMap<number, number> }> {
    for (const [direction, m] of [['encap', this.tx], ['decap', this.rx]] as const) {
      for (const [peerRloc, s] of m) yield { direction, peerRloc, set: s.set, keyIds: [...s.keyIds.keys()].sort(), installedAt: s.keyIds };
    }
  }

  /** The receive key set for packets from `peerRloc` (0: none). */
  rxSet(peerRloc: string): number {
    return this.rx.get(peerRloc)?.set ?? 0;
  }

  /** Returns an error message when the event could not be applied (the key stays unused). */
  apply(e: KeyEvent): string | undefined {
    const sets = e.direction === 'encap' ? this.tx : this.rx;
    if (e.action === 'remove') {
      const s = sets.get(e.peerRloc);
      if (!s || !s.keyIds.has(e.keyId)) return undefined;
      this.table.remove(s.set, e.keyId);
      s.keyIds.delete(e.keyId);
      if (e.direction === 'encap' && this.table.sendKeyId(s.set) === e.keyId) this.table.setSendKey(s.set, 0);
      if (s.keyIds.size === 0) {
        this.table.release(s.set);
        sets.delete(e.peerRloc);
      }
      return undefined;
    }
    const suite = checkSuite(e.suite, e.variant);
    if (!suite.ok) {
      this.refused += 1;
      return suite.error;
    }
    let s = sets.get(e.peerRloc);
    if (!s) {
      const set = this.table.allocate();
      if (set < 0) {
        this.refused += 1;
        return `key table full (${this.table.allocated} sets in use)`;
      }
      s = { set, keyIds: new Map() };
      sets.set(e.peerRloc, s);
    }
    try {
      this.table.installTraffic(s.set, e.keyId, { spec: suite.spec, encryptKey: e.encryptKey, icvKey: e.icvKey });
    } catch (err) {
      this.refused += 1;
      if (s.keyIds.size === 0) {
        this.table.release(s.set);
        sets.delete(e.peerRloc);
      }
      return (err as Error).message;
    }
    s.keyIds.set(e.keyId, Date.now());
    // The ETR installed its decap key before it answered (keys.ts): switching at once loses nothing.
    if (e.direction === 'encap') this.table.setSendKey(s.set, e.keyId);
    return undefined;
  }
}
