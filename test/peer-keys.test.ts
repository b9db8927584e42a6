// The control plane's key events applied to the addon's key table (src/dataplane/peer-keys.ts):
// send and receive sets per peer RLOC, the send key-id follows rekeys, wiped keys free their set.
import test from 'ava';
import { deriveTrafficKeys, generateKeyPair, type KeyEvent } from '../src/crypto';
import { PeerKeySets } from '../src/dataplane/peer-keys';
import { KeyTable } from '../src/native';

function event(action: KeyEvent['action'], direction: KeyEvent['direction'], peerRloc: string, keyId: number, suite = 6, variant: KeyEvent['variant'] = 'rfc'): KeyEvent {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const d = deriveTrafficKeys({ variant, suite, privateKey: a.privateKey, ownPublic: a.publicKey, peerPublic: b.publicKey, itrNonce: BigInt(keyId) });
  if (!d.ok) throw new Error(d.error);
  return {
    action, direction, localRloc: '192.0.2.1', peerRloc, keyId, suite, variant,
    encryptKey: action === 'install' ? d.keys.encryptKey : Buffer.alloc(0), icvKey: action === 'install' ? d.keys.icvKey : Buffer.alloc(0),
  };
}

test('encap keys get a send set whose send key-id follows each rekey; decap keys a separate receive set', (t) => {
  const table = new KeyTable(8);
  const sets = new PeerKeySets(table);
  t.is(sets.txSet('192.0.2.2'), 0);
  t.is(sets.apply(event('install', 'encap', '192.0.2.2', 1)), undefined);
  const tx = sets.txSet('192.0.2.2');
  t.true(tx > 0);
  t.is(table.sendKeyId(tx), 1);
  t.true(table.key(tx, 1).active);
  t.is(table.key(tx, 1).suite, 6);
  sets.apply(event('install', 'decap', '192.0.2.2', 1, 5));
  const rx = sets.rxSet('192.0.2.2');
  t.true(rx > 0 && rx !== tx, 'the two directions have their own sets');
  t.is(table.key(rx, 1).suite, 5);
  t.is(table.sendKeyId(rx), 0, 'a receive set sends nothing');
  // Rekey: key-id 2 installed and used for sending, key-id 1 still there until removed.
  sets.apply(event('install', 'encap', '192.0.2.2', 2));
  t.is(table.sendKeyId(tx), 2);
  t.true(table.key(tx, 1).active);
  sets.apply(event('remove', 'encap', '192.0.2.2', 1));
  t.false(table.key(tx, 1).active);
  t.is(table.sendKeyId(tx), 2);
  // Wipe: the last key gone frees the set.
  sets.apply(event('remove', 'encap', '192.0.2.2', 2));
  t.is(sets.txSet('192.0.2.2'), 0);
  t.is(table.allocated, 1);
});

test('suites the data plane does not run are refused and counted, and leave no set behind', (t) => {
  const table = new KeyTable(4);
  const sets = new PeerKeySets(table);
  t.regex(sets.apply(event('install', 'encap', '192.0.2.3', 1, 2, 'rfc')) ?? '', /lispers/);
  t.is(sets.txSet('192.0.2.3'), 0);
  t.is(table.allocated, 0);
  t.is(sets.apply(event('install', 'decap', '192.0.2.3', 1, 2, 'lispers')), undefined, 'lispers.net\'s suite 2 runs');
  t.is(sets.refused, 1);
  // A full table: 3 usable sets.
  for (const peer of ['192.0.2.4', '192.0.2.5']) sets.apply(event('install', 'encap', peer, 1));
  t.regex(sets.apply(event('install', 'encap', '192.0.2.6', 1)) ?? '', /full/);
  t.is(sets.refused, 2);
});
