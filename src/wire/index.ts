// Public surface of the wire codec: pure functions, no I/O.
export * from './types';
export { WireError } from './errors';
export { decodeControl, encodeControl, controlTypeName, TYPE_INFO } from './control';
export * from './constants';
export { decodeData, encodeData, readDataHeader, writeDataHeader } from './data';
export { decodeInnerUdp, decodeInnerUdpAt, encodeInnerUdp, type InnerUdpPacket } from './inner';
export { formatAddress } from './address';
export { actionName } from './action';
export {
  AuthAlgorithm, type AuthCoverage, authLengthFor, encodeSigned, signControl, verifyControl, type AuthVerdict, type SignOptions,
} from './auth';
export * from './cipher-suites';
