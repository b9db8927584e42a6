// The control plane's counters: one name per event an operator may want to see (metrics, `decent
// show stats`). Every drop of a hostile or malformed input has one.

export const COUNTER_NAMES = [
  'register.sent', 'register.received', 'register.accepted', 'register.rejected.auth', 'register.rejected.policy',
  'register.rejected.malformed', 'register.deregistered', 'notify.sent', 'notify.received', 'notify.rejected.auth',
  'notify.retransmitted', 'notify-ack.sent', 'notify-ack.received', 'request.received', 'request.sent',
  'reply.sent', 'reply.received', 'reply.negative.sent', 'probe.sent', 'probe.received', 'smr.received',
  'her.sent', 'her.received', 'her.rejected', 'control.malformed', 'control.unexpected', 'request.rate-limited', 'smr.sent',
  'register.retransmitted', 'register.acked', 'register.rejected.owned', 'register.rejected.limit',
  'request.rejected.address', 'probe.reply.unmatched', 'register.rejected.replay', 'register.rejected.stale',
  'request.rejected.amplification', 'requesters.evicted', 'smr.capped', 'control.rate-limited', 'register.refused.owned',
  'info.request.sent', 'info.request.received', 'info.reply.sent', 'info.reply.received', 'info.reply.unmatched',
  'info.rate-limited',
  // Push-mode member lists (decent/push.ts): to a member bootstrapping through us, about members
  // that joined through us (deltas, and recent joins to members new to us), anti-entropy.
  'members.list.sent', 'members.delta.sent', 'members.recent.sent', 'members.gossip.sent', 'members.gossip.answered',
  // Periodic rounds paced (decent/pacer.ts): members queued past the burst; queued ones a newer round reached first
  'register.paced', 'register.pace.superseded',
  // NAT traversal: data-port Info-Requests sent; as an RTR, bindings learnt and registrations relayed (rtr.ts)
  'info.request.data-port', 'rtr.info.data', 'rtr.info.control', 'rtr.info.unnamed', 'rtr.register.relayed',
  // RTR failover behind NAT (nat.ts): an RTR left unanswered, taken out of our registration; back again
  'nat.rtr.retry', 'nat.rtr.down', 'nat.rtr.up',
  // an RTR's answer to a data-port Info-Request (nat.ts); direct paths between members behind NAT (direct.ts)
  'info.reply.data-port', 'direct.probe.sent', 'direct.probe.received', 'direct.reply.sent', 'direct.reply.received',
  'direct.reply.unmatched', 'direct.rate-limited', 'direct.probe.unknown',
  // as an RTR, LISP-crypto exchanges relayed to a member behind NAT we serve, or refused (rtr.ts)
  'rtr.request.relayed', 'rtr.request.refused',
  // LISP-crypto exchanges (keys.ts)
  'crypto.exchange.sent', 'crypto.exchange.received', 'crypto.exchange.repeated', 'crypto.exchange.answered', 'crypto.keys.installed', 'crypto.rekey',
  'crypto.rejected.mismatch', 'crypto.rejected.unbound', 'crypto.rejected.suite', 'crypto.rejected.key', 'crypto.rejected.nokey',
  'crypto.rejected.limit', 'crypto.reply.unmatched', 'crypto.exchange.via-rtr',
  // Pull mode: a Map-Resolver did not answer in time (the lookup asks another of the set).
  'request.timed-out',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
