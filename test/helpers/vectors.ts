// Where the test vectors live (test/vectors, captured from lispers.net and OOR: see the READMEs
// there), and the LISP datagrams in them.
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { lispDatagrams, type LispDatagram } from '../../src/pcap/lisp';
import { readPcapFile, type PcapFile } from '../../src/pcap/reader';

/** The repository root, from dist/test/helpers. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');

/** `$DECENT_VECTORS`, else the repository's own test/vectors. */
export const VECTORS_DIR = process.env.DECENT_VECTORS ?? path.resolve(REPO_ROOT, 'test/vectors');

/** Captures of features decoded since (LISP-crypto, NAT traversal): kept apart from the set every codec test reads. */
export const NEXT_VECTORS_DIR = path.join(VECTORS_DIR, 'next');

/** Every pcap in the vectors directory, sorted; throws when the directory is missing (a silent pass would lie). */
export function vectorFiles(): string[] {
  if (!existsSync(VECTORS_DIR)) {
    throw new Error(`test vectors not found at ${VECTORS_DIR} (set DECENT_VECTORS to their directory)`);
  }
  return readdirSync(VECTORS_DIR).filter((f) => f.endsWith('.pcap')).sort();
}

export function vectorPath(name: string): string {
  return path.join(VECTORS_DIR, name);
}

const cache = new Map<string, PcapFile>();

export function loadVector(name: string): PcapFile {
  let file = cache.get(name);
  if (!file) {
    file = readPcapFile(vectorPath(name));
    cache.set(name, file);
  }
  return file;
}

export function vectorDatagrams(name: string): LispDatagram[] {
  return lispDatagrams(loadVector(name));
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
