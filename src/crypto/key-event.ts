// The interface between the control plane's key exchange (src/control/keys.ts) and the data
// plane's key table (src/native/keys.ts): one event per key installed or removed.
import type { CryptoVariant } from './suites';

/** What the data plane needs to encrypt or decrypt one direction of one RLOC pair under one key-id. */
export interface KeyEvent {
  readonly action: 'install' | 'remove';
  /** `encap`: we are the ITR and `peerRloc` the ETR. `decap`: the peer's ITR sends to us. */
  readonly direction: 'encap' | 'decap';
  readonly localRloc: string;
  readonly peerRloc: string;
  /** 1–3: the KK bits of the data header (RFC 8061 §7). */
  readonly keyId: number;
  readonly suite: number;
  readonly variant: CryptoVariant;
  /** Empty buffers on `remove`. */
  readonly encryptKey: Buffer;
  readonly icvKey: Buffer;
}
