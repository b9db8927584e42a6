// Where the shared test vectors live, and the LISP datagrams in them.
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { lispDatagrams, type LispDatagram } from '../../src/pcap/lisp';
import { readPcapFile, type PcapFile } from '../../src/pcap/reader';

/** The repository root, from dist/test/helpers. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');

/** `$DECENT_VECTORS`, else ../shared/vectors next to the repository. */
export const VECTORS_DIR = process.env.DECENT_VECTORS ?? path.resolve(REPO_ROOT, '../shared/vectors');

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
