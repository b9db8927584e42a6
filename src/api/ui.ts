// The web UI: one self-contained page that polls the JSON API. Tables follow lispers.net's
// pages (site cache: registered, last registerer, first/last registered, flags; map-cache:
// uptime, TTL, RLOCs, state, packets) with an "EID lookup" form, readable on a phone. The
// encryption table shows the data plane's LISP-crypto keys per peer RLOC (RFC 8061): direction,
// suite, key-id (the one sending now), key age, packets sealed/opened, replays, auth failures.
export const UI_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>decent</title>
<style>
:root { --fg:#1d2433; --muted:#6b7385; --line:#e3e6ee; --accent:#2f6fde; --bad:#c0392b; --ok:#1e8e4e; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif; color:var(--fg); background:#f6f7fb; }
header { background:#fff; border-bottom:1px solid var(--line); padding:12px 16px; display:flex; flex-wrap:wrap; gap:8px 24px; align-items:baseline; }
header h1 { font-size:18px; margin:0; }
header span { color:var(--muted); }
main { padding:12px 16px; display:grid; gap:16px; grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px; overflow-x:auto; }
h2 { font-size:15px; margin:0 0 8px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); font-variant-numeric: tabular-nums; }
/* Tables fit their section (a 1200-px window shows them without sideways scrolling): long cells wrap, anywhere if they must. */
td { overflow-wrap:anywhere; }
section.wide { grid-column: 1 / -1; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
.down { color:var(--bad); } .up { color:var(--ok); }
form { display:flex; gap:8px; flex-wrap:wrap; margin-bottom:8px; }
input { flex:1; min-width:160px; padding:6px 8px; border:1px solid var(--line); border-radius:6px; font:inherit; }
button { padding:6px 12px; border:0; border-radius:6px; background:var(--accent); color:#fff; font:inherit; cursor:pointer; }
pre { margin:0; white-space:pre-wrap; font-size:12px; }
#err { color:var(--bad); }
</style></head>
<body>
<header><h1 id="name">decent</h1><span id="rlocs"></span><span id="group"></span><span id="uptime"></span><span id="err"></span></header>
<main>
<section class="wide"><h2>Site cache</h2><table id="site"><thead><tr><th>EID</th><th>RLOCs</th><th>Last registerer</th><th>Registered</th><th>First</th><th>Flags</th></tr></thead><tbody></tbody></table></section>
<section class="wide"><h2>Map-cache</h2><table id="map"><thead><tr><th>EID</th><th>RLOCs</th><th>State</th><th>TTL</th><th>Uptime</th><th>Packets</th></tr></thead><tbody></tbody></table></section>
<section class="wide"><h2>Encryption (LISP-crypto)</h2><table id="keys"><thead><tr><th>Peer RLOC</th><th>Direction</th><th>Suite</th><th>Key-id</th><th>Key age</th><th>Encrypted</th><th>Decrypted</th><th>Replays</th><th>Auth failures</th></tr></thead><tbody></tbody></table></section>
<section class="wide"><h2>Group members</h2><table id="peers"><thead><tr><th>Name</th><th>RLOCs</th><th>EIDs</th><th>Registered</th><th>State</th><th>Reach</th></tr></thead><tbody></tbody></table></section>
<section><h2>EID lookup</h2>
<form id="lookup"><input id="eid" placeholder="EID, e.g. 10.0.0.2 or 'nexus-n2'" aria-label="EID"><input id="resolver" placeholder="Map-Resolver (default: this node)" aria-label="Map-Resolver"><button>Look up</button></form>
<pre id="answer"></pre></section>
<section><h2>Counters</h2><table id="counters"><thead><tr><th>Plane</th><th>Counter</th><th>Value</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get('token') || localStorage.getItem('decent-token') || '';
if (token) localStorage.setItem('decent-token', token);
const api = (p) => fetch(p, { headers: token ? { authorization: 'Bearer ' + token } : {} }).then(async (r) => {
  const body = await r.json(); if (!r.ok) throw new Error(body.error || r.status); return body; });
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;' }[c]));
const ago = (t) => { const s = Math.max(0, Math.round((Date.now() - t) / 1000)); return s < 60 ? s + 's' : s < 3600 ? Math.floor(s/60) + 'm' + String(s%60).padStart(2,'0') + 's' : Math.floor(s/3600) + 'h' + String(Math.floor(s%3600/60)).padStart(2,'0') + 'm'; };
const SUITES = { 2: '2 AES-128-CBC', 5: '5 AES-128-GCM', 6: '6 ChaCha20-Poly1305' };
const fill = (id, rows) => { document.querySelector('#' + id + ' tbody').innerHTML = rows.map((r) => '<tr>' + r.map((c) => '<td' + (c && c.cls ? ' class="' + c.cls + '"' : '') + '>' + (c && c.html !== undefined ? c.html : esc(c)) + '</td>').join('') + '</tr>').join(''); };
async function refresh() {
  try {
    const [st, site, map, peers, counters, keys] = await Promise.all(['/api/status', '/api/site-cache', '/api/map-cache', '/api/peers', '/api/counters', '/api/crypto'].map(api));
    document.getElementById('name').textContent = 'decent · ' + st.name;
    document.getElementById('rlocs').textContent = 'RLOCs ' + st.rlocs.join(', ');
    document.getElementById('group').textContent = 'group ' + st.group.address + ' (' + st.group.replication + ')';
    document.getElementById('uptime').textContent = 'up ' + ago(st.startedAt);
    fill('site', site.map((r) => [r.eid, { cls: 'rlocs', html: esc(r.rlocs.join(', ')) }, r.lastRegisterer, ago(r.lastRegistered) + ' ago', ago(r.firstRegistered) + ' ago', [...new Set(r.registrations.map((g) => g.flags))].join(' ')]));
    fill('map', map.map((e) => [e.key, { cls: 'rlocs', html: e.members ? 'replicate to ' + esc(e.members.join(', ')) : e.rlocs.map((r) => '<span class="' + (r.up ? 'up' : 'down') + '">' + esc(r.address) + '</span> p' + r.priority + '/w' + r.weight).join(', ') || '-' },
      e.negative ? { cls: 'down', html: 'negative' } : { cls: 'up', html: 'up' }, (e.source === 'static' ? 'never' : Math.round(Math.max(0, e.expiresAt - Date.now()) / 1000) + 's'), ago(e.createdAt), e.packets]));
    fill('peers', peers.map((p) => [p.name || '-', { cls: 'rlocs', html: esc(p.rlocs.join(', ')) }, { cls: 'rlocs', html: esc(p.eids.map((e) => e.replace(/^\\[0\\]/, '')).join(', ') || '-') },
      p.lastRegistered === null ? '-' : ago(p.lastRegistered) + ' ago', p.state, { cls: p.reachability === 'down' ? 'down' : p.reachability === 'up' ? 'up' : '', html: p.reachability }]));
    // replays: duplicates and IVs older than the window, both dropped before decryption
    fill('keys', keys.length ? keys.map((k) => [k.peerRloc, k.direction === 'encap' ? 'send' : 'receive', SUITES[k.suite] || String(k.suite),
      k.keyId + (k.sending ? ' (sending)' : ''), k.installedAt ? ago(k.installedAt) : '-', k.encrypted, k.decrypted, k.replays + k.outOfWindow,
      { cls: k.authFailures ? 'down' : '', html: String(k.authFailures) }]) : [[st.dataplane ? 'no keys yet (or dataplane.encryption: off)' : 'no data plane in this process', '', '', '', '', '', '', '', '']]);
    fill('counters', [...Object.entries(counters.control).filter(([, v]) => v).map(([k, v]) => ['control', k, v]), ...Object.entries(counters.dataplane).map(([k, v]) => ['data', k, v])]);
    document.getElementById('err').textContent = '';
  } catch (e) { document.getElementById('err').textContent = 'cannot reach the node: ' + e.message; }
}
document.getElementById('lookup').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams({ eid: document.getElementById('eid').value });
  const resolver = document.getElementById('resolver').value.trim(); if (resolver) q.set('resolver', resolver);
  const out = document.getElementById('answer'); out.textContent = 'asking...';
  try {
    const r = await api('/api/lookup?' + q);
    out.textContent = 'Map-Reply from ' + r.from + ' in ' + r.rttMs.toFixed(1) + ' ms\\n' + r.summary.map((s) => '  ' + s.eid + (s.rlocs.length
      ? ' -> ' + s.rlocs.join(', ') + ' (TTL ' + s.ttlMin + ' min, ' + (s.authoritative ? 'authoritative' : 'proxy reply') + ')'
      : ' negative, ' + s.actionName + ', TTL ' + s.ttlMin + ' min')).join('\\n');
  } catch (e) { out.textContent = 'lookup failed: ' + e.message; }
});
refresh(); setInterval(refresh, 2000);
</script></body></html>
`;
