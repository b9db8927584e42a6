// SIGHUP reload (src/daemon/reload.ts): what applies live, what waits for a restart, and that an
// invalid file changes nothing. Plus the data-plane config the loader builds.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, parseConfigText } from '../src/config/load';
import type { ControlConfig } from '../src/control/config';
import { LIVE_RELOAD_KEYS, reloadConfig, restartOnlyChanges } from '../src/daemon/reload';

const BASE = `name: n1
eids:
  - 10.1.0.0/16
rlocs:
  addresses: [192.0.2.1]
decent:
  group: 224.1.1.1
  seeds: [192.0.2.2]
auth:
  key: secret
timers:
  register-interval: 60s
`;

const raw = (text: string): ReturnType<typeof parseConfigText>['raw'] => parseConfigText(text, 'n1.yaml', {}).raw;

test('control-plane keys reload live; name, RLOCs, data plane, API, log and main-thread timers wait for a restart', (t) => {
  const started = raw(BASE);
  t.deepEqual(restartOnlyChanges(started, raw(BASE)), []);
  const live = BASE.replace('10.1.0.0/16', '10.9.0.0/16').replace('[192.0.2.2]', '[192.0.2.3]').replace('key: secret', 'key: other')
    .replace('register-interval: 60s', 'register-interval: 30s\n  probe-interval: 5s');
  t.deepEqual(restartOnlyChanges(started, raw(live)), []);
  const later = BASE.replace('name: n1', 'name: n2').replace('[192.0.2.1]', '[192.0.2.9]')
    .replace('register-interval: 60s', 'register-interval: 60s\n  rloc-poll: 1s\n  icmp-interval: 5s')
    .concat('dataplane:\n  tun: decent9\napi:\n  socket: /tmp/x.sock\nlog:\n  level: debug\nxtr-id: "0x1234"\n');
  t.deepEqual(restartOnlyChanges(started, raw(later)).sort(),
    ['api', 'dataplane', 'log', 'name', 'rlocs', 'timers.icmp-interval', 'timers.rloc-poll', 'xtr-id']);
  t.true(LIVE_RELOAD_KEYS.includes('policy'));
});

test('reloadConfig hands the control plane the new config and says what waits; an invalid file changes nothing', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-reload-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'n1.yaml');
  fs.writeFileSync(file, BASE);
  const started = loadConfig(file, {});
  const applied: ControlConfig[] = [];
  const lines: [string, string][] = [];
  const node = { control: { reconfigure: (c: ControlConfig) => applied.push(c) } };
  const log = (level: string, _sub: string, msg: string): void => {
    lines.push([level, msg]);
  };

  fs.writeFileSync(file, BASE.replace('[192.0.2.2]', '[192.0.2.3]').concat('dataplane:\n  tun: decent9\n'));
  const next = reloadConfig(node, started, log);
  t.deepEqual(next?.control.group.seeds, ['192.0.2.3']);
  t.deepEqual(applied.map((c) => c.group.seeds), [['192.0.2.3']]);
  t.deepEqual(lines, [['warn', 'SIGHUP: changes to dataplane take effect after a restart'], ['info', 'SIGHUP: configuration reloaded']]);

  lines.length = 0;
  fs.writeFileSync(file, 'name: [broken\n');
  t.is(reloadConfig(node, started, log), undefined);
  t.is(applied.length, 1, 'the control plane kept its config');
  t.deepEqual(lines.map((l) => l[0]), ['error']);
  t.regex(lines[0][1], /the new config is invalid; keeping the running one/);
});

test('the loader builds the data-plane config: EIDs, routes and static entries in the node instance-id', (t) => {
  const c = parseConfigText(BASE.replace('  group: 224.1.1.1', '  group: 224.1.1.1\n  instance-id: 7').concat(
    'dataplane:\n  tun: decent7\n  mtu: 1380\n  routes: [10.8.0.0/16]\n  static-map-cache:\n    - { eid: 10.5.0.0/16, rlocs: [192.0.2.5] }\n'), 'n1.yaml', {});
  t.like(c.dataplane, { tun: 'decent7', mtu: 1380, offloads: true, udpGso: true, instanceId: 7, rlocs: ['192.0.2.1'] });
  t.deepEqual(c.dataplane?.localEids, c.control.eids);
  t.deepEqual(c.dataplane?.routes, [{ iid: 7, kind: 'ipv4', address: '10.8.0.0', maskLen: 16 }]);
  t.deepEqual(c.dataplane?.staticMapCache, [{ eid: { iid: 7, kind: 'ipv4', address: '10.5.0.0', maskLen: 16 }, rlocs: ['192.0.2.5'] }]);
  t.is(parseConfigText(BASE, 'n1.yaml', {}).dataplane, undefined);
});
