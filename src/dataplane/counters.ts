// Data-plane counters: plain numeric fields on one object of a fixed shape, so the hot path's
// `c.x++` stays a monomorphic field store (no Map, no string keys per packet).
export class DataPlaneCounters {
  // ITR (TUN -> UDP)
  encapPackets = 0;
  encapBytes = 0;
  /** Inner packets that were not IPv4/IPv6 or too short to carry their header. */
  dropBadInner = 0;
  /** A negative map-cache entry said drop (RFC 9301 §5.4 ACT=Drop) or natively forward (no path from a TUN). */
  dropNegative = 0;
  /** An entry with no usable RLOC (all down, R=0, or priority 255). */
  dropNoRloc = 0;
  /** No entry, and the destination is multicast/broadcast/link-local: nothing to ask the mapping system. */
  dropNotUnicast = 0;
  /** Inner packet too big for the path: answered with ICMP Frag-Needed / PTB (RFC 9300 §7.1). */
  dropTooBigEncap = 0;
  icmpSent = 0;
  icmpRateLimited = 0;
  // Miss handling
  missPackets = 0;
  missHeld = 0;
  missFlushed = 0;
  /** Held packets dropped: queue full, too big to hold, or no mapping within the hold time. */
  missDropped = 0;
  missReported = 0;
  // ETR (UDP -> TUN)
  decapPackets = 0;
  decapBytes = 0;
  dropBadHeader = 0;
  dropUnknownInstance = 0;
  dropNotOurEid = 0;
  dropNotOurRloc = 0;
  /** Data from an outer source that is not a group member's RLOC (nor a static map-cache or own RLOC). */
  dropNotMember = 0;
  dropTtlExpired = 0;
  dropTooBig = 0;
  /** Inner TTL / hop limit lowered to the outer one (RFC 9300 §5.3 step 4). */
  ttlCopied = 0;
  /** Inner ECN set to CE because the outer was CE (RFC 6040 §4.2). */
  ecnCeMarked = 0;
  /** Outer CE over an inner Not-ECT packet: dropped (RFC 6040 §4.2). */
  dropEcnNotEct = 0;
  /** Head-end replicated control packets (instance-id 0xFFFFFF) received for the control worker. */
  encapsulatedControl = 0;
  /** ... dropped because the queue to the worker was full (a flood: CONTROL_QUEUE_PACKETS/BYTES). */
  dropControlQueueFull = 0;
  /** ... dropped because their outer source used its budget (SOURCE_BURST, SOURCE_REFILL_PER_S). */
  dropControlSourceBudget = 0;
  /** ... dropped because handing them over failed. */
  dropControlConsumerError = 0;
  /** ... handed to the worker, and in how many batches (one message each). */
  controlHandedOver = 0;
  controlBatches = 0;
  /** Most packets ever waiting in the queue. */
  controlQueueHigh = 0;
  // RTR (draft-ietf-lisp-nat-traversal, the RTR): data for EIDs not ours, handed back to the ITR side
  /** Inner packets decapsulated here for another member's EID and re-encapsulated (we are an RTR). */
  rtrRelayed = 0;
  /** ... not relayed because their inner TTL would reach 0. */
  rtrDropTtl = 0;
  /** Sealed datagrams relayed by their relay shim, never opened (src/wire/relay-shim.ts): TO shim in, FROM shim out. */
  rtrRelayedSealed = 0;
  /**
   * Datagrams with a relay shim dropped: malformed; a TO shim where we relay nothing or from a
   * non-member; a target that is no member and no NAT binding of ours, or of another family; a
   * FROM shim from a source that is not a known RTR; a GRO message mixing several shim addresses.
   */
  relayShimDropped = 0;
  ioErrors = 0;

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this)) if (typeof v === 'number') out[k] = v;
    return out;
  }
}
