// The Map-Server's admission rules as pure functions (RFC 9301 §5.6, §8.2): who may register, and
// which EIDs. A rule is one function here plus its test.
import { eidCovers, eidKey, type Eid } from '../mapping/eid';
import type { AuthVerdict, EidRecord } from '../wire';
import type { PolicyConfig } from './config';

/** An EID-record for a group entry (Multicast-Info LCAF, RFC 8060 §4.10.2). */
export function isGroupRecord(r: EidRecord): boolean {
  return r.eid.kind === 'lcaf' && r.eid.lcaf.type === 'multicast-info';
}

/** accept-more-specifics: `inner` is `outer` or lies inside it; a group prefix admits its (S,G)s. */
export function coversForPolicy(outer: Eid, inner: Eid): boolean {
  if (outer.kind === 'group' && inner.kind === 'group') return outer.iid === inner.iid && outer.group === inner.group;
  return eidCovers(outer, inner);
}

/**
 * Whether a message with this authentication verdict may change state: verified, or (with the
 * lispers.net compatibility switch) an unauthenticated message that only touches group entries.
 */
export function authAdmits(verdict: AuthVerdict, records: readonly EidRecord[], policy: PolicyConfig): boolean {
  if (verdict === 'ok') return true;
  return verdict === 'none' && policy.acceptUnauthenticatedGroupJoins && records.every(isGroupRecord);
}

/** EIDs a member may register: inside the allowed prefixes; our own group entry always. */
export function eidAllowed(eid: Eid, policy: PolicyConfig, groupKey: string): boolean {
  if (policy.allowed.length === 0 || eidKey(eid) === groupKey) return true;
  return policy.allowed.some((p) => coversForPolicy(p, eid));
}
