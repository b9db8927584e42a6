// Builders for the control messages more than one role sends: Map-Requests in their three uses
// (RLOC-probe, SMR, ECM-encapsulated resolution), signatures with the group key, negative records.
import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { encodeControl, encodeSigned, type AuthAlgorithm, type EidRecord, type MapNotify, type MapRegister, type MapRequest } from '../wire';
import type { AuthConfig } from './config';
import { ipAddress } from './locators';
import { eidToWire, type Eid } from '../mapping/eid';
import { CONTROL_PORT } from './ports';

export function randomNonce(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

export interface MapRequestOptions {
  readonly nonce: bigint;
  /** Our RLOC the answer goes to (ITR-RLOC, RFC 9301 §5.3). */
  readonly itrRloc: string;
  readonly eid: Eid;
  /** RLOC-probe (P=1, RFC 9301 §7.1). */
  readonly probe?: boolean;
  /** Solicit-Map-Request (S=1, RFC 9301 §6.1); SMRs are sent with dontReply. */
  readonly smr?: boolean;
  readonly lispersPad?: boolean;
}

export function mapRequest(o: MapRequestOptions): MapRequest {
  const { eid, eidMaskLen } = eidToWire(o.eid, { lispersPad: o.lispersPad });
  return {
    type: 'map-request', authoritative: false, mapDataPresent: false, probe: o.probe ?? false, smr: o.smr ?? false, pitr: false,
    smrInvoked: false, ...(o.smr ? { dontReply: true } : {}), nonce: o.nonce, sourceEid: { kind: 'none' },
    itrRlocs: [ipAddress(o.itrRloc)], records: [{ eid, eidMaskLen }],
  };
}

/**
 * An ECM-encapsulated Map-Request to a Map-Resolver (RFC 9301 §5.8): the inner IP header goes
 * from our RLOC to the EID asked for (our own address when the families differ), 4342 → 4342.
 */
export function ecmMapRequest(o: MapRequestOptions): Buffer {
  const own = o.itrRloc;
  const e = o.eid;
  const target = e.kind === 'ipv4' || e.kind === 'ipv6' ? e.address : e.kind === 'group' ? e.group : own;
  const sameFamily = isIPv4(target) === isIPv4(own);
  return encodeControl({
    type: 'ecm', security: false, ddt: false, message: mapRequest(o),
    inner: {
      version: isIPv4(own) ? 4 : 6, source: own, destination: sameFamily ? target : own, ttl: 64, tos: 0, id: 0,
      fragment: 0, flowLabel: 0, sourcePort: CONTROL_PORT, destinationPort: CONTROL_PORT,
    },
  });
}

/** Signs with the group key; `as` overrides key-id and algorithm (a reply uses the request's, RFC 9301 §5.7). */
export function signWith(m: MapRegister | MapNotify, auth: AuthConfig, as?: { keyId: number; algorithm: AuthAlgorithm }): Buffer {
  return encodeSigned(m, auth.key, { keyId: as?.keyId ?? auth.keyId, algorithm: as?.algorithm ?? auth.algorithm });
}

/**
 * Negative reply record (RFC 9301 §8): nothing registered. Natively-Forward for unicast, Drop for
 * groups, as lispers.net does; the prefix is the EID asked for.
 */
export function negativeRecord(eid: Eid, ttlMin: number, lispersPad: boolean): EidRecord {
  return {
    ttl: ttlMin, ...eidToWire(eid, { lispersPad }), action: eid.kind === 'group' ? 3 : 1,
    authoritative: false, mapVersion: 0, locators: [],
  };
}
