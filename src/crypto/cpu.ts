// Which AEAD is cheaper on this CPU: with AES instructions (x86 AES-NI, the ARMv8 crypto
// extensions of a Raspberry Pi 5) AES-128-GCM costs 0.69–0.75 of ChaCha20-Poly1305 per packet
// (README, Performance); without them (a Raspberry Pi 4) ChaCha20-Poly1305 is several times faster.
import * as fs from 'node:fs';

/** RFC 8061 §5 cipher suites: 5 X25519 + AES-128-GCM, 6 X25519 + ChaCha20-Poly1305. */
export const SUITE_AES_GCM = 5;
export const SUITE_CHACHA = 6;

/** Whether /proc/cpuinfo text lists AES instructions (x86 `flags`, arm64 `Features`). */
export function hasAesInstructions(cpuinfo: string): boolean {
  return cpuinfo.split('\n').some((line) => /^(flags|Features)\s*:/.test(line) && /\saes(\s|$)/.test(line));
}

/** /proc/cpuinfo, or '' where there is none. */
export function readCpuinfo(): string {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** The suites a node offers and accepts by default, best first, for a CPU with or without AES instructions. */
export function defaultSuites(aes: boolean): number[] {
  return aes ? [SUITE_AES_GCM, SUITE_CHACHA] : [SUITE_CHACHA, SUITE_AES_GCM];
}
