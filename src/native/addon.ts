// Loads the compiled N-API addon (native/build/Release/decent_native.node) and types its raw
// functions. Everything else in src/native wraps these; nothing outside this folder should
// call them directly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDR_STRIDE, DESC_STRIDE, KEY_OFFSET, KEY_STRIDE, KEYSET_STRIDE } from './layout';

export interface RawTunOpen {
  handle: object;
  fd: number;
  name: string;
  ifindex: number;
  offloads: number;
}

export interface RawUdpOpen {
  handle: object;
  fd: number;
  port: number;
  offloads: number;
}

export interface NativeAddon {
  tunOpen(name: string, netns: string | null, multiQueue: boolean, offloads: number, stats: Float64Array): RawTunOpen;
  tunClose(handle: object): void;
  tunRead(handle: object, data: Buffer, desc: Int32Array, slot: number, headroom: number, max: number): number;
  tunWrite(handle: object, data: Buffer, desc: Int32Array, slot: number, count: number): number;
  udpOpen(
    family: 4 | 6, addr: Uint8Array, port: number, netns: string | null, bufferBytes: number,
    offloads: number, rxMax: number, stats: Float64Array,
  ): RawUdpOpen;
  udpClose(handle: object): void;
  udpOffloads(handle: object): number;
  udpSend(handle: object, data: Buffer, desc: Int32Array, slot: number, count: number, addrs: Uint8Array): number;
  udpRecv(
    handle: object, data: Buffer, desc: Int32Array, slot: number, headroom: number, max: number,
    src: Uint8Array, dst: Uint8Array,
  ): number;
  linkSet(netns: string | null, ifindex: number, mtu: number, up: -1 | 0 | 1): void;
  addrAdd(netns: string | null, ifindex: number, family: 4 | 6, addr: Uint8Array, prefixLength: number): void;
  routeSet(
    netns: string | null, add: boolean, ifindex: number, family: 4 | 6, dst: Uint8Array,
    prefixLength: number, metric: number,
  ): void;
  keysOpen(shared: Uint8Array, sets: number): object;
  keysInstall(
    handle: object, set: number, keyId: number, suite: number, encKey: Uint8Array, icvKey: Uint8Array | null,
    ivLen: number, icvLen: number,
  ): void;
  keysRemove(handle: object, set: number, keyId: number): void;
  keysOpenBatch(handle: object, data: Buffer, desc: Int32Array, slot: number, count: number, segSets?: Int32Array): number;
  /** The per-segment AEAD work alone (scripts/bench-aead.ts): CPU ns per seal and per open. */
  keysBench(handle: object, set: number, plainLength: number, count: number): [number, number];
  tunSetKeys(handle: object, keys: object | null): void;
  udpSetKeys(handle: object, keys: object | null): void;
  watch(fd: number, callback: (error: string | null) => void): object;
  unwatch(handle: object): void;
  constants: {
    DESC_STRIDE: number; ADDR_STRIDE: number; STATS_COUNT: number; VNET_HDR_LEN: number;
    KEYSET_STRIDE: number; KEY_STRIDE: number; KEY_OFFSET: number;
  };
}

const ADDON_REL = path.join('native', 'build', 'Release', 'decent_native.node');

// Compiled TS lives in dist/src/native, the sources in src/native: walk up to the package
// root (the folder holding native/binding.gyp) instead of hard-coding the depth.
function findAddon(): string {
  const override = process.env.DECENT_NATIVE_ADDON;
  if (override) return override;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'native', 'binding.gyp'))) return path.join(dir, ADDON_REL);
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..', '..', '..', ADDON_REL);
    dir = up;
  }
}

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const file = findAddon();
  if (!fs.existsSync(file)) {
    throw new Error(
      `the native I/O addon is not built (${file} is missing): run "npm ci" or "npm run install" ` +
        '(needs a C/C++ compiler, make and python3 for node-gyp)',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require(file) as NativeAddon;
  // an addon built from other sources than these TS files would misread every descriptor
  const want = { DESC_STRIDE, ADDR_STRIDE, KEYSET_STRIDE, KEY_STRIDE, KEY_OFFSET };
  for (const [k, v] of Object.entries(want)) {
    const got = addon.constants[k as keyof typeof want];
    if (got !== v) throw new Error(`the native addon (${file}) has ${k} = ${got}, src/native/layout.ts ${v}: rebuild it (npm run install)`);
  }
  cached = addon;
  return cached;
}
