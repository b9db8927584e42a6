// Longest-prefix lookups in the site cache and map-cache (lookupEid): a large table is probed
// once per prefix length rather than scanned; both must give what a scan of every entry gives.
import test from 'ava';
import { Xorshift32 } from '../scripts/lib/xorshift';
import { eidCovers, eidKey, lookupEid, maskAddress, type Eid } from '../src/mapping/eid';

function randomPrefix(rng: Xorshift32, v6: boolean): Eid {
  const maskLen = v6 ? rng.below(129) : rng.below(33);
  const address = v6
    ? Array.from({ length: 8 }, () => (rng.below(4) === 0 ? 0 : rng.below(0x10000)).toString(16)).join(':')
    : Array.from({ length: 4 }, () => String(rng.below(4))).join('.');
  return { iid: rng.below(2), kind: v6 ? 'ipv6' : 'ipv4', address: maskAddress(address, maskLen), maskLen };
}

function scanLongest(table: ReadonlyMap<string, { eid: Eid }>, eid: Eid): Eid | undefined {
  let best: Eid | undefined;
  for (const { eid: e } of table.values()) {
    if (e.kind === eid.kind && eidCovers(e, eid) && (!best || (e.kind !== 'name' && e.kind !== 'group' && best.kind === e.kind && e.maskLen > best.maskLen))) best = e;
  }
  return best;
}

test('a large table answers longest-prefix lookups as a scan of every entry does', (t) => {
  const rng = new Xorshift32(17);
  const table = new Map<string, { eid: Eid }>();
  // Few distinct address bits, so prefixes nest often.
  while (table.size < 400) {
    const e = randomPrefix(rng, rng.below(3) === 0);
    table.set(eidKey(e), { eid: e });
  }
  let found = 0;
  for (let i = 0; i < 3000; i++) {
    const q = randomPrefix(rng, rng.below(3) === 0);
    const want = scanLongest(table, q);
    const got = lookupEid(table, q)?.eid;
    t.is(got && eidKey(got), want && eidKey(want), `lookup ${eidKey(q)}`);
    if (want) found++;
  }
  t.true(found > 1000, `${found} lookups had a covering prefix`);
});
