// rlocs.interfaces naming an interface that does not exist, or one without an address, is said in
// words at start (issue 14), instead of a node that silently registers nothing.
import test from 'ava';
import type { NetworkInterfaceInfo } from 'node:os';
import { interfaceProblems } from '../src/control/interfaces';

const v4 = (address: string, internal = false): NetworkInterfaceInfo =>
  ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` });

test('a missing interface and one without an address are named; a usable one is not', (t) => {
  const all = { eth0: [v4('192.0.2.1')], wlan0: [{ ...v4('fe80::1'), family: 'IPv6' as const, scopeid: 2 }], lo: [v4('127.0.0.1', true)] };
  t.deepEqual(interfaceProblems(['eth0'], all), []);
  t.deepEqual(interfaceProblems(['eht0', 'wlan0'], all), [
    "rlocs.interfaces: interface eht0 does not exist; waiting for it (check the name with 'ip link')",
    'rlocs.interfaces: interface wlan0 has no address yet; waiting for one',
  ]);
});
