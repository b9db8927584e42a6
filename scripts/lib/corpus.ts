// Seed messages for the fuzzer and the codec benchmark: the spec's worked examples plus messages
// built with our encoder, covering every message type and LCAF the codec knows.
import { encodeControl, encodeData, encodeSigned, type ControlMessage } from '../../src/wire';
import * as ex from '../../test/fixtures/spec-examples';

export function specExamples(): Buffer[] {
  return Object.values(ex).map((h) => Buffer.from(h, 'hex'));
}

export function builtMessages(): Buffer[] {
  const geoJsonRegister: ControlMessage = {
    type: 'map-register', proxyReply: false, security: false, useTtl: true, merge: false, wantMapNotify: true,
    nonce: 7n, keyId: 1, algorithm: 2, authData: new Uint8Array(32), xtrId: 1n, siteId: 2n,
    records: [{
      ttl: 3, eidMaskLen: 64, action: 0, authoritative: true, mapVersion: 5,
      eid: { kind: 'lcaf', lcaf: { type: 'instance-id', iid: 7, iidMaskLen: 0, address: { kind: 'ipv6', ip: 'fd00:1::' } } },
      locators: [
        { priority: 1, weight: 50, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { kind: 'ipv6', ip: '2001:db8::1' } },
        {
          priority: 1, weight: 50, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true,
          address: { kind: 'lcaf', lcaf: { type: 'geo', north: true, latDegrees: 37, latMinutes: 25, latSeconds: 1, east: false, lonDegrees: 122, lonMinutes: 5, lonSeconds: 2, altitude: -10, address: { kind: 'ipv4', ip: '192.0.2.9' } } },
        },
        {
          priority: 2, weight: 0, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: false,
          address: { kind: 'lcaf', lcaf: { type: 'json', json: '{"telemetry":1}', address: { kind: 'none' } } },
        },
        {
          priority: 3, weight: 0, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true,
          address: { kind: 'lcaf', lcaf: { type: 'opaque', lcafType: 11, rsvd2: 0, body: new Uint8Array([1, 0, 5, 0, 0, 2, 0xaa, 0xbb, 0, 0]) } },
        },
      ],
    }],
  };
  const requestWithMapData: ControlMessage = {
    type: 'map-request', authoritative: false, mapDataPresent: true, probe: false, smr: false, pitr: false, smrInvoked: true,
    nonce: 0xfeedn, sourceEid: { kind: 'ipv6', ip: '2001:db8:1::5' },
    itrRlocs: [{ kind: 'ipv4', ip: '192.0.2.1' }, { kind: 'ipv6', ip: '2001:db8::1' }],
    records: [{ eidMaskLen: 128, eid: { kind: 'ipv6', ip: '2001:db8:2::7' } }],
    mapReplyRecord: {
      ttl: 1440, eidMaskLen: 48, action: 0, authoritative: true, mapVersion: 0, eid: { kind: 'ipv6', ip: '2001:db8:1::' },
      locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { kind: 'ipv4', ip: '192.0.2.1' } }],
    },
  };
  const ecm6: ControlMessage = {
    type: 'ecm', security: false, ddt: false,
    inner: { version: 6, source: '2001:db8:1::5', destination: '2001:db8:2::7', ttl: 64, tos: 0, id: 0, fragment: 0, flowLabel: 0, sourcePort: 40000, destinationPort: 4342 },
    message: requestWithMapData,
  };
  return [
    encodeSigned(geoJsonRegister as Extract<ControlMessage, { type: 'map-register' }>, 'k'),
    encodeControl(requestWithMapData),
    encodeControl(ecm6),
    encodeData({ type: 'data', header: { noncepresent: false, lsbEnabled: true, echoNonce: false, mapVersioning: true, iidPresent: false, keyId: 0, nonce: 0x123456, lsb: 3 }, payload: new Uint8Array(20) }),
  ];
}
