/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import type { ExecutionContext } from 'ava';
import { hasAesInstructions, readCpuinfo } from '../src/crypto';
import { startCryptoNodes } from './helpers/crypto-nodes';
import { startNodes } from './helpers/nodes';
import { netnsAvailable } from '../scripts/lib/netns';

const root = netnsAvailable();
const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium in namespace `ns`, so it reaches the node's loopback listener there. */
async function browserIn(t: ExecutionContext, ns: string): Promise<Browser> {
  const wrapper = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'decent-chromium-')), 'chromium');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  t.teardown(() => fs.rmSync(path.dirname(wrapper), { recursive: true, force: true }));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: wrapper,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  return browser;
}

test.serial('metrics: Prometheus text with counters and table sizes', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const nodes = await startNodes(t, { prefix: 'met', count: 2, subnet: '10.81.0', extra: (i) => (i === 1 ? ['  http: 127.0.0.1:8099'] : []) });
  const ns = nodes.bed.nodes[0].ns;
  const get = (p: string): string => ns.exec([process.execPath, '-e',
    `require('http').get('http://127.0.0.1:8099${p}',(r)=>{let b='';r.on('data',(d)=>b+=d);r.on('end',()=>{process.stdout.write(r.statusCode+'\\n'+b)})})`]);
  const metrics = get('/metrics');
  t.regex(metrics, /^200\n/);
  // Every sample line parses as `name{labels} value`.
  const samples = metrics.split('\n').slice(1).filter((l) => l && !l.startsWith('#'));
  t.true(samples.length > 10);
  for (const l of samples) t.regex(l, /^[a-z_][a-z0-9_]*\{[^}]*\} -?\d+(\.\d+)?$/, l);
  t.regex(metrics, /^decent_site_cache_entries\{node="n1"\} 3$/m);
  t.regex(metrics, /^decent_group_members\{node="n1"\} 1$/m);
  t.regex(metrics, /^decent_control_events_total\{node="n1",event="register\.accepted"\} [1-9]\d*$/m);
  t.regex(get('/api/nope'), /^404\n.*no such endpoint/s);
});

test.serial('web UI: headless Chromium shows the site cache, map-cache, members and answers a lookup', async (t) => {
  if (!root.ok || !fs.existsSync(CHROMIUM)) {
    t.log(`skipped: ${!root.ok ? root.reason : 'chromium is not installed (apt-get install chromium)'}`);
    t.pass();
    return;
  }
  const nodes = await startNodes(t, { prefix: 'wui', count: 3, subnet: '10.82.0', extra: (i) => (i === 1 ? ['  http: 127.0.0.1:8098'] : []) });
  // The browser must run in node 1's namespace to reach its loopback listener.
  const browser = await browserIn(t, nodes.bed.nodes[0].ns.name);
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto('http://127.0.0.1:8098/');
  await page.waitForFunction(() => document.querySelectorAll('#site tbody tr').length === 4, undefined, { timeout: 15_000 });
  const siteRows = await page.$$eval('#site tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent ?? '')));
  t.deepEqual(siteRows.map((r) => r[0]).sort(), ['[0](0.0.0.0/0, 224.9.9.9/32)', '[0]10.1.0.0/16', '[0]10.2.0.0/16', '[0]10.3.0.0/16']);
  t.is(siteRows.find((r) => r[0] === '[0]10.2.0.0/16')?.[1], '10.82.0.12');
  t.is(await page.textContent('#name'), 'decent · n1');
  await page.waitForFunction(() => document.querySelectorAll('#peers tbody tr').length === 2);
  const peers = await page.$$eval('#peers tbody tr td:nth-child(2)', (c) => c.map((x) => x.textContent));
  t.deepEqual(peers, ['10.82.0.12', '10.82.0.13']);
  await page.fill('#eid', '10.3.1.1');
  await page.click('#lookup button');
  await page.waitForFunction(() => (document.getElementById('answer')?.textContent ?? '').startsWith('Map-Reply'));
  t.regex(await page.textContent('#answer') ?? '', /Map-Reply from 10\.82\.0\.11 in [\d.]+ ms\n.*10\.82\.0\.13/);
  // A 1200-px window: every table fits its section, nothing scrolls sideways.
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.waitForFunction(() => document.querySelectorAll('#peers tbody tr').length === 2);
  const wide = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth - window.innerWidth,
    sections: [...document.querySelectorAll('section')].map((s) => [s.querySelector('h2')?.textContent ?? '?', s.scrollWidth - s.clientWidth] as const),
  }));
  t.true(wide.page <= 0, `page scrolls sideways by ${wide.page}px at 1200 px`);
  for (const [title, over] of wide.sections) t.true(over <= 0, `${title} scrolls sideways by ${over}px at 1200 px`);
  // A phone-sized viewport still shows every section without horizontal page scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  t.true(overflow <= 0, `page scrolls sideways by ${overflow}px on a phone`);
  if (process.env.DECENT_UI_SCREENSHOT) {
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.screenshot({ path: process.env.DECENT_UI_SCREENSHOT, fullPage: true });
  }
});

test.serial('web UI: the LISP-crypto keys per peer RLOC: direction, suite, key-id, key age, packets encrypted/decrypted, replays, auth failures', async (t) => {
  if (!root.ok || !fs.existsSync(CHROMIUM)) {
    t.log(`skipped: ${!root.ok ? root.reason : 'chromium is not installed (apt-get install chromium)'}`);
    t.pass();
    return;
  }
  // two `decent run` nodes with the default encryption (required); n1 serves the web UI
  const n = await startCryptoNodes(t, '192.168.81', ['  http: 127.0.0.1:8096']);
  if (!await n.converged()) { t.fail(n.failWith('site caches did not converge')); return; }
  if (![0, 1, 2].some(() => n.ping(0, 1, 4, 'ab'))) { t.fail(n.failWith('n1 -> n2: no ping through the overlay')); return; }
  const browser = await browserIn(t, n.bed.nodes[0].ns.name);
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto('http://127.0.0.1:8096/');
  await page.waitForFunction(() => [...document.querySelectorAll('#keys tbody tr')].some((r) => r.children[1]?.textContent === 'send' && Number(r.children[5]?.textContent) > 0),
    undefined, { timeout: 15_000 });
  const rows = await page.$$eval('#keys tbody tr', (trs) => trs.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent ?? '')));
  const peer = n.bed.nodes[1].address;
  const send = rows.find((r) => r[1] === 'send'), receive = rows.find((r) => r[1] === 'receive');
  t.truthy(send, JSON.stringify(rows));
  t.truthy(receive, JSON.stringify(rows));
  if (!send || !receive) return;
  // the default suite follows the CPU (both nodes run on this one)
  const suite = hasAesInstructions(readCpuinfo()) ? '5 AES-128-GCM' : '6 ChaCha20-Poly1305';
  t.deepEqual([send[0], send[2], send[7], send[8]], [peer, suite, '0', '0']);
  t.regex(send[3], /^[123] \(sending\)$/);
  t.regex(send[4], /^\d+s$/, 'key age');
  t.true(Number(send[5]) >= 1, `encrypted ${send[5]}`);
  t.deepEqual([receive[0], receive[2], receive[7], receive[8]], [peer, suite, '0', '0']);
  t.regex(receive[3], /^[123]$/);
  t.true(Number(receive[6]) >= 1, `decrypted ${receive[6]}`);
  const over = await page.evaluate(() => { const s = document.getElementById('keys')?.closest('section'); return s ? s.scrollWidth - s.clientWidth : -1; });
  t.true(over <= 0, `the encryption table scrolls sideways by ${over}px at 1200 px`);
});
