// Public surface of the native TUN / UDP batch I/O (issue 3).
export { loadAddon } from './addon';
export { AddressTable, bytesToIp, familyOf, ipToBytes, maskBytes, parseCidr, readAddress } from './address';
export type { Cidr, Family } from './address';
export { NativeIoError } from './errors';
export { D, DESC_STRIDE, ADDR_STRIDE, F, OFF, SHIM_MASK, SHIM_SHIFT, STAT_NAMES, KEY_COUNTER_NAMES } from './layout';
export { KeyTable, SUITE } from './keys';
export type { DataSuite, KeySpec, KeyState, KeySetCounters } from './keys';
export type { IoStats, StatName, TunStats, UdpStats } from './layout';
export { Pool, RecvPool } from './pool';
export type { PoolOptions } from './pool';
export { RawRelay, LISP_HEADER_LEN } from './relay';
export type { RawRelayOptions } from './relay';
export { Tun, ALL_TUN_OFFLOADS, NO_TUN_OFFLOADS, checkInterfaceName } from './tun';
export type { TunOffloads, TunOptions } from './tun';
export { UdpEndpoint } from './udp';
export type { UdpOptions } from './udp';
